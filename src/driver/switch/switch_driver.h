// SwitchDriver: how corepin programs the network switch so that a network function's traffic
// reaches the right VM (function 4 of DESIGN.md).
//
// Model: a service network is a VLAN. Each VM port corepin manages has a desired PortState.
// The ACT's service port is an access port on the service VLAN; an SBY's service port is an
// access port on a *parking* VLAN that no uplink carries, so it takes no service traffic.
// (Not "untagged": in Open vSwitch a port with neither tag nor trunks trunks *every* VLAN,
// the service VLAN included.) A switchover is one Apply of the group's ports: both ports
// change in one atomic switch transaction, so no moment has two ports on the service VLAN.
//
// Apply is a reconcile: it reads what the switch holds, writes only the ports that differ, and
// reports each change, marking those whose state had been changed outside corepin (by hand).
// A failed call changes nothing on the switch and can be retried as it is.
//
// Drivers are chosen by URI, like libvirt's:
//   ovsdb:unix:/var/run/openvswitch/db.sock   Open vSwitch, OVSDB JSON-RPC over a unix socket
//   ovsdb:tcp:127.0.0.1:6640                  the same over TCP
//   none                                      no managed switch: every call succeeds, does
//                                             nothing, and says so (managed = false)
// A driver's calls are thread-safe; callbacks of a Watch run on the watch's own thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace corepin {

inline constexpr int kMinVlan = 1, kMaxVlan = 4094;  // 0 and 4095 are reserved by 802.1Q
inline constexpr int kDefaultParkingVlan = 4094;

struct PortRef {
  std::string bridge;
  std::string port;
};

// The VLAN configuration of one switch port.
//   tag only       access port on VLAN `tag`
//   trunks only    trunk of exactly these VLANs
//   both           native-untagged: untagged frames on `tag`, tagged ones for `trunks`
//   neither        rejected: Open vSwitch would trunk every VLAN
struct PortState {
  std::string bridge;
  std::string port;
  std::optional<int> tag;
  std::vector<int> trunks;  // kept sorted and unique
  bool service = false;          // carries a service: `tag` is its service VLAN

  std::string Describe() const;  // "tag=100 service" / "trunks=10,20" / "untagged"
  bool SameVlans(const PortState& o) const { return tag == o.tag && trunks == o.trunks; }
};

// A port as read from the switch.
struct ActualPort {
  PortState state;                      // service: from corepin's mark, false if none
  std::optional<PortState> corepin_set; // what corepin last wrote to this port (its mark in the switch)
  bool by_hand = false;                 // the VLANs differ from corepin_set: changed outside corepin
};

struct PortReadings {
  bool managed = true;  // false: the `none` driver read nothing
  std::vector<ActualPort> ports;
  std::string summary;
};

struct PortChange {
  PortState before;     // as found (service: from corepin's mark)
  PortState after;      // as written
  bool by_hand = false; // `before` had been changed outside corepin since corepin wrote it
  std::string before_mode, after_mode;  // Open vSwitch vlan_mode (effective) found and written
  std::string Describe() const;  // "br-h1/vm1-svc: tag=4094 -> tag=100 service"
};

struct SwitchReport {
  bool managed = true;              // false: the `none` driver did nothing
  std::vector<PortChange> changed;  // ports written, all in one transaction
  std::vector<std::string> unchanged;  // ports already as desired ("bridge/port")
  std::string summary;              // one line for events and logs
  size_t hand_changes() const;
};

// One update from the switch: the ports changed by one transaction (or by several that the
// server merged). Delivered on the watch's thread.
struct PortEvent {
  ActualPort port;       // state.bridge is "" when the port is in no bridge
  bool deleted = false;
};
struct WatchUpdate {
  std::vector<PortEvent> ports;
  bool resync = false;  // the full current state after (re)connecting, not a change
  std::string error;    // non-empty: the connection was lost; the watch reconnects by itself
};
using WatchCallback = std::function<void(const WatchUpdate&)>;

// Follows the switch until destroyed. The destructor stops the thread (after any callback in
// progress returns), so it must not run inside the callback.
class SwitchWatch {
 public:
  virtual ~SwitchWatch() = default;
  virtual bool managed() const = 0;  // false: the `none` driver never reports
};

class SwitchDriver {
 public:
  virtual ~SwitchDriver() = default;

  // The actual state of these ports. An empty list reads every port that carries corepin's mark.
  // A missing bridge or port is NotFound naming it.
  virtual Result<PortReadings> Read(const std::vector<PortRef>& ports) = 0;

  // Makes these ports as desired, writing only those that differ, all in one transaction
  // (with `reason` recorded in the switch's log). Rejected before anything is written:
  // invalid states (Invalid: VLAN out of 1..4094, two ports on one service VLAN, ...), a
  // missing bridge or port (NotFound), a port that corepin is not given holding one of the
  // service VLANs on a bridge of the given ports (Conflict; ports on other bridges, such as a
  // top-of-rack bridge's client and uplink ports, carry the service VLAN by design). The switch unreachable: Unavailable. Every error names the
  // port(s) and the problem; nothing was changed, and the same call can be retried.
  virtual Result<SwitchReport> Apply(const std::vector<PortState>& desired, const std::string& reason) = 0;

  // Apply for the periodic/after-event reconcile: the report's by_hand changes are the drift.
  Result<SwitchReport> Reconcile(const std::vector<PortState>& desired) { return Apply(desired, "reconcile"); }

  // Takes these ports out of their bridges, in one transaction: the ports of VMs that will
  // never run there again (their host failed and they were healed elsewhere), so that a stale
  // port neither keeps a service VLAN nor blocks the name where the VM now runs. A port that is
  // absent already is fine; one that does not carry corepin's mark is not touched (Conflict).
  // Returns "bridge/port" of each port removed.
  virtual Result<std::vector<std::string>> RemovePorts(const std::vector<PortRef>& ports, const std::string& reason) = 0;

  // Follows changes to ports (e.g. a tag changed by hand) and calls `on_update` for each, on
  // a thread of the watch. The first call is a resync with the current state.
  virtual Result<std::unique_ptr<SwitchWatch>> Watch(WatchCallback on_update) = 0;

  virtual std::string uri() const = 0;
  virtual bool managed() const = 0;  // false for `none`
};

// ovsdb:unix:PATH, ovsdb:tcp:HOST:PORT or none. Only the URI is checked here (Invalid when
// it is malformed); the connection is made by the first call and remade after a failure.
Result<std::unique_ptr<SwitchDriver>> OpenSwitchDriver(const std::string& uri);

// Checks desired states on their own: names set, VLANs in 1..4094, tag or trunks, a service
// port has a tag, no port twice, at most one service port per service VLAN, and no other
// desired port tagged with a service VLAN. Normalizes trunks (sorted, unique).
Status ValidateDesired(std::vector<PortState>& desired);

// The desired service ports of one redundancy group: the ACT's port on the service VLAN,
// every SBY's on the parking VLAN. A switchover is Apply of this with the roles swapped.
struct GroupMemberPort {
  PortRef ref;
  bool act = false;
};
std::vector<PortState> GroupServicePorts(int service_vlan, int parking_vlan,
                                         const std::vector<GroupMemberPort>& members);

}  // namespace corepin
