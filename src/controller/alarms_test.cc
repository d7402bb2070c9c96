#include "controller/alarms.h"

#include <gtest/gtest.h>

namespace corepin {
namespace {

EventRecord Ev(int64_t id, std::string kind, std::string subject, std::string message = "") {
  return {.id = id, .unix_ms = id * 1000, .kind = std::move(kind), .subject = std::move(subject), .message = std::move(message)};
}

TEST(AlarmBook, LatestRaiseOfEachKindAndSubjectUntilCleared) {
  AlarmBook book;
  book.Apply(Ev(1, "alarm.vm-crash-loop", "fw1", "first"));
  book.Apply(Ev(2, "vm.created", "fw2"));
  book.Apply(Ev(3, "alarm.vm-crash-loop", "fw2"));
  book.Apply(Ev(4, "alarm.vm-crash-loop", "fw1", "second"));
  book.Apply(Ev(5, "alarm.fence-failed", "fw1"));  // same subject, another kind: its own alarm
  auto active = book.Active();
  ASSERT_EQ(active.size(), 3u);
  EXPECT_EQ(active[0].id, 3);  // oldest first, by the id of the raise that stands
  EXPECT_EQ(active[1].id, 4);
  EXPECT_EQ(active[1].message, "second");
  EXPECT_EQ(active[2].kind, "alarm.fence-failed");

  book.Apply(Ev(6, kAlarmCleared, "fw1", ClearedMessage("alarm.vm-crash-loop", "by an operator")));
  EXPECT_EQ(book.Find("alarm.vm-crash-loop", "fw1"), nullptr);
  ASSERT_NE(book.Find("alarm.fence-failed", "fw1"), nullptr);
  ASSERT_NE(book.Find("alarm.vm-crash-loop", "fw2"), nullptr);
  book.Apply(Ev(7, "alarm.vm-crash-loop", "fw1", "third"));  // raised again
  EXPECT_EQ(book.Find("alarm.vm-crash-loop", "fw1")->id, 7);
  EXPECT_EQ(book.last_id(), 7);
  EXPECT_EQ(book.kind_counts().at("alarm.vm-crash-loop"), 4);
  EXPECT_EQ(book.kind_counts().at(kAlarmCleared), 1);
}

TEST(AlarmBook, OldEventsAreIgnoredAndAClearOfNothingIsHarmless) {
  AlarmBook book;
  book.Apply(Ev(5, kAlarmCleared, "x", ClearedMessage("alarm.a", "")));
  book.Apply(Ev(3, "alarm.a", "x"));  // older than what was folded: ignored
  EXPECT_TRUE(book.Active().empty());
  EXPECT_EQ(book.last_id(), 5);
}

TEST(AlarmBook, AlarmKinds) {
  EXPECT_TRUE(IsAlarmKind("alarm.vm-crash-loop"));
  EXPECT_FALSE(IsAlarmKind("alarm.cleared"));
  EXPECT_FALSE(IsAlarmKind("alarm."));
  EXPECT_FALSE(IsAlarmKind("vm.created"));
  EXPECT_FALSE(IsAlarmKind("alarms.x"));
}

}  // namespace
}  // namespace corepin
