// Wall-clock time in Unix milliseconds: what stored timelines and events carry (not for
// measuring durations: use std::chrono::steady_clock).
#pragma once

#include <chrono>
#include <cstdint>

namespace corepin {

inline int64_t UnixMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace corepin
