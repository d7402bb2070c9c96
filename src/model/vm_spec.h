// VmSpec: what a VM asks of a host's CPUs and memory. Host-independent; the per-host fit
// (placement/fit.h) decides whether and where it goes. JSON: placement/placement_json.h.
#pragma once

#include <cstdint>
#include <optional>
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

// What the VM boots: a kernel and initrd on the host, started directly by QEMU (libvirt's
// <os><kernel/><initrd/><cmdline/>). Paths are the host's (not checked here: the spec is
// host-independent). The cmdline may hold the placeholders {name} and {role}, which the
// hypervisor driver replaces with the VM's name and its role in its redundancy group ("ACT",
// "SBY", or "" outside a group) when it builds the domain.
struct VmImage {
  std::string kernel;   // absolute path, required
  std::string initrd;   // absolute path, or empty
  std::string cmdline;  // kernel command line, or empty
  bool operator==(const VmImage&) const = default;

  static constexpr size_t kMaxCmdline = 2047;  // after {name} and {role} are filled in
};

// A virtio NIC on the host's bridge for VM interfaces (its OVS port is named by PortName in
// driver/domain_xml.h). Members of a redundancy group share their spec and so their MACs:
// ACT and SBY sit on different VLANs and the MAC follows the service.
struct VmInterface {
  std::string name;  // [a-z0-9]{1,8}, unique in the VM
  std::string mac;   // "52:54:00:12:34:56" (unicast, lower case), or empty: libvirt picks one
  bool operator==(const VmInterface&) const = default;
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
  std::optional<VmImage> image;        // none: no disk, no kernel; the guest sits in the firmware
  std::vector<VmInterface> interfaces;  // in guest order (the first is the guest's eth0)

  static constexpr int kMaxVcpus = 256;
  static constexpr int kMaxInterfaces = 8;
};

const char* ToString(SmtPolicy p);
const char* ToString(NumaPolicy p);
Result<SmtPolicy> ParseSmtPolicy(const std::string& text);
Result<NumaPolicy> ParseNumaPolicy(const std::string& text);
Result<uint64_t> ParsePageSize(const std::string& text);  // "4K" | "2M" | "1G" -> KiB
std::string PageSizeToString(uint64_t kib);

// Host-independent checks: name, counts, policies consistent with each other, memory a
// multiple of the page size, image paths and cmdline placeholders, interface names and MACs.
// Messages name the field and value.
Status ValidateSpec(const VmSpec& spec);

// The longest role a cmdline's {role} may become ("ACT", "SBY"): ValidateSpec counts it.
inline constexpr size_t kMaxRoleLength = 3;

// The cmdline with {name} and {role} replaced. Any other '{' or '}' is left as it is
// (ValidateSpec refuses them).
std::string ExpandCmdline(const std::string& cmdline, const std::string& name, const std::string& role);

// "52:54:00:12:34:56" in either case -> lower case; empty when it is not six hex pairs.
std::string NormalizeMac(const std::string& mac);

// Valid names for VMs, hosts and groups: [A-Za-z0-9][A-Za-z0-9_.-]{0,62}.
bool IsValidName(const std::string& name);

}  // namespace corepin
