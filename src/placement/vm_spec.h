// VmSpec: what a VM asks of a host's CPUs and memory. Host-independent; the per-host fit
// (fit.h) decides whether and where it goes. Parsing from JSON lives in spec_json.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace corepin {

// Where one vCPU runs.
struct VcpuPolicy {
  enum class Kind { kDedicated, kGroup, kPinned };
  Kind kind = Kind::kDedicated;
  std::string group;  // kGroup: the shared pCPU's group name (host-wide)
  int pcpu = -1;      // kPinned: the exact pCPU

  // "dedicated" | "group:NAME" | "pinned:N"
  static Result<VcpuPolicy> Parse(const std::string& text);
  std::string ToString() const;
  bool operator==(const VcpuPolicy& o) const { return kind == o.kind && group == o.group && pcpu == o.pcpu; }
};

enum class SmtPolicy { kPrefer, kIsolate, kRequire };
enum class NumaPolicy { kSingle, kSpread };

struct EmulatorPolicy {
  enum class Kind { kHousekeeping, kIsolate, kGroup };
  Kind kind = Kind::kHousekeeping;
  std::string group;
  static Result<EmulatorPolicy> Parse(const std::string& text);
  std::string ToString() const;
};

struct VmSpec {
  std::string name;
  std::vector<VcpuPolicy> vcpus;  // one per vCPU, index = vCPU number
  SmtPolicy smt = SmtPolicy::kPrefer;
  EmulatorPolicy emulator;
  NumaPolicy numa = NumaPolicy::kSingle;
  std::string nic;      // run near this NIC (its NUMA node), or empty
  std::string physnet;  // run near a NIC of this physical network, or empty
  uint64_t memory_mib = 0;
  uint64_t page_kib = 4;  // 4, 2048 or 1048576

  static constexpr int kMaxVcpus = 256;
};

const char* ToString(SmtPolicy p);
const char* ToString(NumaPolicy p);
Result<SmtPolicy> ParseSmtPolicy(const std::string& text);
Result<NumaPolicy> ParseNumaPolicy(const std::string& text);
Result<uint64_t> ParsePageSize(const std::string& text);  // "4K" | "2M" | "1G" -> KiB
std::string PageSizeToString(uint64_t kib);

// Host-independent checks: name, counts, policies consistent with each other, memory a
// multiple of the page size. Messages name the field and value.
Status ValidateSpec(const VmSpec& spec);

// Valid names for VMs, hosts and groups: [A-Za-z0-9][A-Za-z0-9_.-]{0,62}.
bool IsValidName(const std::string& name);

}  // namespace corepin
