// StateStore: corepind's durable state: hosts, VMs and an append-only event log.
//
// Payloads (config_json, spec_json, assignment_json, topology_xml) are opaque strings: the
// controller owns their meaning, so the store does not depend on placement types.
//
// Writes are durable when the method returns ok. Several writes that must happen together go
// inside Transaction(): either all of them are kept or none (see RunInTransaction).
//
// Thread safety: every implementation is safe to call from several threads. A transaction is
// exclusive to the thread that runs it: other threads' calls wait until it ends, so the
// function given to Transaction() must not wait on another thread that uses the store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/status.h"

namespace corepin {

// Members have default initializers so that callers may use designated initializers for a few.
struct HostRecord {
  std::string name = {};
  std::string uri = {};           // libvirt connection URI
  std::string config_json = {};   // partition, labels, ... (controller-defined)
  std::string topology_xml = {};  // libvirt capabilities as last read
  int64_t created_unix = 0;       // 0 on PutHost means "now"
  std::string state = "active";   // one of the kHost* states below
  bool operator==(const HostRecord&) const = default;
};

// Host states. "failed": fenced after a failure; no VM is placed there until an operator
// returns it. "draining"/"drained": being emptied for maintenance, or empty and kept so.
inline constexpr std::string_view kHostActive = "active";
inline constexpr std::string_view kHostFailed = "failed";
inline constexpr std::string_view kHostDraining = "draining";
inline constexpr std::string_view kHostDrained = "drained";
inline bool IsValidHostState(std::string_view s) {
  return s == kHostActive || s == kHostFailed || s == kHostDraining || s == kHostDrained;
}

// VM states. The controller writes the intent ("creating", "deleting", ...) before it acts, and
// the outcome ("running", "failed") after; see src/store/README.md.
inline constexpr std::string_view kVmCreating = "creating";
inline constexpr std::string_view kVmRunning = "running";
inline constexpr std::string_view kVmDeleting = "deleting";
inline constexpr std::string_view kVmFailed = "failed";
// Healing: recorded on its reserved target host, where its domain is being created.
inline constexpr std::string_view kVmHealing = "healing";
// Lost: its host failed and no host could take it; kept on the failed host's record.
inline constexpr std::string_view kVmLost = "lost";
// Changes of a running VM, recorded (with the new assignment) before they are made.
inline constexpr std::string_view kVmRepinning = "repinning";
inline constexpr std::string_view kVmResizing = "resizing";
inline constexpr std::string_view kVmMoving = "moving";
inline constexpr std::string_view kVmStates[] = {kVmCreating, kVmRunning,   kVmDeleting, kVmFailed, kVmHealing,
                                                 kVmLost,     kVmRepinning, kVmResizing, kVmMoving};
inline bool IsValidVmState(std::string_view s) {
  for (auto v : kVmStates)
    if (s == v) return true;
  return false;
}

struct VmRecord {
  std::string name = {};
  std::string host = {};             // must name a stored host
  std::string spec_json = {};        // the VM's requested shape (controller-defined)
  std::string assignment_json = {};  // exact pCPUs etc. (controller-defined)
  std::string state = {};            // one of the kVm* states above
  int64_t updated_unix = 0;          // 0 on InsertVm/UpdateVm means "now"
  bool operator==(const VmRecord&) const = default;
};

// A redundancy group (ACT/SBY members, each also a VmRecord). config_json holds the group as
// the controller keeps it: its request, members with their current roles, service VLANs.
inline constexpr std::string_view kGroupCreating = "creating";
inline constexpr std::string_view kGroupRunning = "running";
inline constexpr std::string_view kGroupDeleting = "deleting";
inline constexpr std::string_view kGroupSwitching = "switching";  // a role change is under way
inline bool IsValidGroupState(std::string_view s) {
  return s == kGroupCreating || s == kGroupRunning || s == kGroupDeleting || s == kGroupSwitching;
}

struct GroupRecord {
  std::string name = {};
  std::string config_json = {};
  std::string state = {};     // one of the kGroup* states above
  int64_t updated_unix = 0;   // 0 on write means "now"
  bool operator==(const GroupRecord&) const = default;
};

// A long operation that must survive a restart (a healing, a drain): what it is, which step it
// has reached, and its plan. The controller owns body_json and the meaning of state.
struct OperationRecord {
  std::string name = {};       // unique, e.g. "heal-h2-1764160000"
  std::string kind = {};       // e.g. "heal", "drain"
  std::string state = {};      // the step reached, e.g. "fencing", "done"
  std::string body_json = {};
  int64_t created_unix = 0;    // 0 on InsertOperation means "now"
  int64_t updated_unix = 0;    // 0 on write means "now"
  bool operator==(const OperationRecord&) const = default;
};

struct EventRecord {
  int64_t id = 0;            // assigned by AppendEvent; strictly increasing, never reused
  int64_t unix_ms = 0;       // 0 on AppendEvent means "now"
  std::string kind = {};     // e.g. "vm.created", "reconcile.diff", "host.failed"
  std::string subject = {};  // the object it is about, e.g. a VM or host name
  std::string message = {};
  bool operator==(const EventRecord&) const = default;
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // Hosts. PutHost inserts (Conflict if the name exists). DeleteHost is refused with Conflict
  // while VMs reference the host; the message names them.
  virtual Status PutHost(const HostRecord& host) = 0;
  virtual Result<HostRecord> GetHost(const std::string& name) = 0;
  virtual Result<std::vector<HostRecord>> ListHosts() = 0;  // ordered by name
  virtual Status DeleteHost(const std::string& name) = 0;
  // One of the kHost* states; NotFound if the host is absent.
  virtual Status SetHostState(const std::string& name, std::string_view state) = 0;

  // VMs. InsertVm: Conflict on a duplicate name, NotFound if vm.host is not stored.
  // UpdateVm replaces the whole record (the host may change); NotFound if the VM is absent.
  virtual Status InsertVm(const VmRecord& vm) = 0;
  virtual Status UpdateVm(const VmRecord& vm) = 0;
  virtual Result<VmRecord> GetVm(const std::string& name) = 0;
  // All VMs, or only those on `host` when it is given; ordered by name.
  virtual Result<std::vector<VmRecord>> ListVms(const std::optional<std::string>& host = std::nullopt) = 0;
  virtual Status DeleteVm(const std::string& name) = 0;

  // Redundancy groups. InsertGroup: Conflict on a duplicate name. UpdateGroup replaces the
  // record; NotFound if absent.
  virtual Status InsertGroup(const GroupRecord& group) = 0;
  virtual Status UpdateGroup(const GroupRecord& group) = 0;
  virtual Result<GroupRecord> GetGroup(const std::string& name) = 0;
  virtual Result<std::vector<GroupRecord>> ListGroups() = 0;  // ordered by name
  virtual Status DeleteGroup(const std::string& name) = 0;

  // Operations. InsertOperation: Conflict on a duplicate name. UpdateOperation replaces state
  // and body; NotFound if absent. ListOperations: oldest first, all kinds when kind is empty.
  virtual Status InsertOperation(const OperationRecord& op) = 0;
  virtual Status UpdateOperation(const OperationRecord& op) = 0;
  virtual Result<OperationRecord> GetOperation(const std::string& name) = 0;
  virtual Result<std::vector<OperationRecord>> ListOperations(const std::string& kind = "") = 0;
  virtual Status DeleteOperation(const std::string& name) = 0;

  // Events: append-only. Returns the new event's id.
  virtual Result<int64_t> AppendEvent(const EventRecord& event) = 0;
  // Events with id > after_id, oldest first, at most `limit` (> 0) of them. Page with the last id seen.
  virtual Result<std::vector<EventRecord>> ListEvents(int64_t after_id, int limit) = 0;

  // Runs fn inside one transaction: its writes are committed together if it returns ok, and
  // rolled back if it returns an error (or throws; the exception propagates). Calls may nest:
  // an inner failure undoes only the inner writes, and the outer fn decides what to do next.
  virtual Status RunInTransaction(const std::function<Status()>& fn) = 0;

  // Typed convenience over RunInTransaction: fn returns Status or Result<T>, and so does this.
  //   auto r = store.Transaction([&]() -> Result<int64_t> {
  //     if (auto s = store.UpdateVm(vm); !s.ok()) return s.error();
  //     return store.AppendEvent({.kind = "vm.deleting", .subject = vm.name});
  //   });
  template <class F>
  std::invoke_result_t<F&> Transaction(F&& fn) {
    using R = std::invoke_result_t<F&>;
    std::optional<R> out;
    Status s = RunInTransaction([&]() -> Status {
      out.emplace(fn());
      return out->ok() ? Status::Ok() : Status(out->error());
    });
    if (!s.ok()) return R(s.error());
    return std::move(*out);
  }
};

}  // namespace corepin
