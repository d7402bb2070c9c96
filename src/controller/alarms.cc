#include "controller/alarms.h"

#include <algorithm>

namespace corepin {

bool IsAlarmKind(const std::string& kind) {
  return kind.rfind(kAlarmPrefix, 0) == 0 && kind.size() > sizeof kAlarmPrefix - 1 && kind != kAlarmCleared;
}

std::string ClearedMessage(const std::string& kind, const std::string& why) { return kind + " cleared: " + why; }

void AlarmBook::Apply(const EventRecord& e) {
  if (e.id <= last_id_) return;
  last_id_ = e.id;
  ++kind_counts_[e.kind];
  if (IsAlarmKind(e.kind)) {
    active_[{e.kind, e.subject}] = e;
  } else if (e.kind == kAlarmCleared) {
    // The cleared kind is the message's first word (ClearedMessage).
    active_.erase({e.message.substr(0, e.message.find(' ')), e.subject});
  }
}

std::vector<EventRecord> AlarmBook::Active() const {
  std::vector<EventRecord> out;
  for (const auto& [key, e] : active_) out.push_back(e);
  std::sort(out.begin(), out.end(), [](const EventRecord& a, const EventRecord& b) { return a.id < b.id; });
  return out;
}

const EventRecord* AlarmBook::Find(const std::string& kind, const std::string& subject) const {
  auto it = active_.find({kind, subject});
  return it == active_.end() ? nullptr : &it->second;
}

}  // namespace corepin
