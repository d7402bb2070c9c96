#include "cli/sse.h"

#include <gtest/gtest.h>

#include <vector>

namespace corepin {
namespace {

TEST(SseParser, MessagesAcrossChunksCommentsAndIdOnlyMessages) {
  std::vector<SseMessage> got;
  SseParser p([&](const SseMessage& m) {
    got.push_back(m);
    return true;
  });
  // corepind's opening cursor (no data: not dispatched, but remembered), a heartbeat, then an
  // event split at awkward places, with CRLF line ends.
  ASSERT_TRUE(p.Feed("id: 7\n\n: heartbeat\n\nid: 8\r\nev"));
  EXPECT_EQ(p.last_id(), "7");
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(p.Feed("ent: vm.created\r\ndata: {\"id\":8}\r\n"));
  EXPECT_TRUE(got.empty());
  ASSERT_TRUE(p.Feed("\r\ndata: a\ndata:b\n\n"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, "8");
  EXPECT_EQ(got[0].event, "vm.created");
  EXPECT_EQ(got[0].data, "{\"id\":8}");
  EXPECT_EQ(got[1].event, "message");
  EXPECT_EQ(got[1].data, "a\nb");
  EXPECT_EQ(p.last_id(), "8");
}

TEST(SseParser, StopsWhenTheHandlerSaysSo) {
  int n = 0;
  SseParser p([&](const SseMessage&) { return ++n < 1; });
  EXPECT_FALSE(p.Feed("data: 1\n\ndata: 2\n\n"));
  EXPECT_EQ(n, 1);
}

TEST(SseParser, ResetDropsAHalfMessageButKeepsTheLastId) {
  std::vector<SseMessage> got;
  SseParser p([&](const SseMessage& m) {
    got.push_back(m);
    return true;
  });
  ASSERT_TRUE(p.Feed("id: 3\n\nid: 4\ndata: cut"));
  p.Reset();
  ASSERT_TRUE(p.Feed("id: 4\ndata: whole\n\n"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].data, "whole");
  EXPECT_EQ(p.last_id(), "4");
}

}  // namespace
}  // namespace corepin
