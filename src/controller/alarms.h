// Alarms, derived from the event log (no table of their own): an event whose kind begins with
// "alarm." raises the alarm (kind, subject); an "alarm.cleared" event whose subject is the same
// and whose message begins with the alarm's kind clears it. The active alarms are, for each
// (kind, subject), the latest alarm event unless a clear came after it.
//
// AlarmBook folds events in id order and remembers where it stopped, so the controller feeds it
// only what was appended since. Pure; not thread-safe (the controller locks around it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "store/state_store.h"

namespace corepin {

inline constexpr char kAlarmPrefix[] = "alarm.";
inline constexpr char kAlarmCleared[] = "alarm.cleared";
inline constexpr char kReserveAlarm[] = "alarm.reserve-degraded";  // subject "cluster"

// True for the kinds that raise an alarm ("alarm.vm-crash-loop"), not for "alarm.cleared".
bool IsAlarmKind(const std::string& kind);

// The message of the alarm.cleared event for `kind`: "KIND cleared: WHY".
std::string ClearedMessage(const std::string& kind, const std::string& why);

class AlarmBook {
 public:
  // Folds one event in; events must come in increasing id order (older ones are ignored).
  void Apply(const EventRecord& e);
  // The id of the last event applied (0: none): feed the book the events after it.
  int64_t last_id() const { return last_id_; }
  // Active alarms, oldest first.
  std::vector<EventRecord> Active() const;
  const EventRecord* Find(const std::string& kind, const std::string& subject) const;
  // How many events of each kind were folded in (corepin_events_total).
  const std::map<std::string, int64_t>& kind_counts() const { return kind_counts_; }

 private:
  int64_t last_id_ = 0;
  std::map<std::string, int64_t> kind_counts_;
  std::map<std::pair<std::string, std::string>, EventRecord> active_;  // (kind, subject) -> latest raise
};

}  // namespace corepin
