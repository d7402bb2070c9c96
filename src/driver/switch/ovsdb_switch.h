// OvsdbSwitch: the SwitchDriver for Open vSwitch. Talks OVSDB JSON-RPC (RFC 7047) to
// ovsdb-server itself, database "Open_vSwitch"; never ovs-vsctl.
//
//   Read    one "transact" of "select"s: every Bridge (name, ports), and the Port rows (VLAN
//           columns, external_ids) by name, plus those tagged with the service VLANs.
//   Apply   Read, compare, then one "transact": a "comment" (the reason, kept in the
//           database log), "wait" guards asserting that every port to be written and every
//           service VLAN is still as read (timeout 0: fail at once, never block), an "update"
//           of tag/trunks/vlan_mode per changed port, and a "mutate" of its external_ids
//           setting corepin's mark. A guard failing means a concurrent change (by hand):
//           the transaction is aborted whole, and Apply reads again and retries (3 tries).
//   RemovePorts  Read, then one "transact": per port a "mutate" deleting it from its Bridge's
//           ports (ovsdb-server then drops the Port and its Interface rows, which no root
//           row references any more).
//   Watch   "monitor" of Bridge and Port on a connection of its own; answers echo probes and
//           sends its own after 5 s of silence; reconnects after a loss.
//
// corepin's mark: Port external_ids "corepin" = {"tag":100,"trunks":[],"service":true}, the
// state corepin last wrote. It is written in the same transaction as the VLANs, so a port
// whose VLANs differ from its mark was changed outside corepin.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "driver/switch/ovsdb_client.h"
#include "driver/switch/switch_driver.h"

namespace corepin::ovsdb {

inline constexpr const char* kDatabase = "Open_vSwitch";
inline constexpr const char* kMarkKey = "corepin";

// What Apply will write, from one reading of the switch.
struct Plan {
  struct Write {
    PortChange change;
    std::string uuid;  // the Port row
    Json found;        // {"tag","trunks","vlan_mode"} exactly as read: the wait guard's row
  };
  std::vector<Write> writes;
  std::vector<std::string> unchanged;
  std::map<int, std::vector<std::string>> service_vlan_holders;  // service VLAN -> ports tagged with it now
};

class OvsdbSwitch : public SwitchDriver {
 public:
  explicit OvsdbSwitch(std::string endpoint, Millis timeout = Millis(5000));

  Result<PortReadings> Read(const std::vector<PortRef>& ports) override;
  Result<SwitchReport> Apply(const std::vector<PortState>& desired, const std::string& reason) override;
  Result<std::vector<std::string>> RemovePorts(const std::vector<PortRef>& ports, const std::string& reason) override;
  Result<std::unique_ptr<SwitchWatch>> Watch(WatchCallback on_update) override;
  std::string uri() const override { return "ovsdb:" + endpoint_; }
  bool managed() const override { return true; }

  // The two halves of Apply, public for tests: a plan made from one reading, committed later,
  // meets whatever changed in between. `raced` is set when a wait guard failed.
  Result<Plan> MakePlan(std::vector<PortState> desired);
  Result<SwitchReport> Commit(const Plan& plan, const std::string& reason, bool* raced = nullptr);

 private:
  Result<Json> Transact(Json ops);  // connects first if needed
  Error Failed(const Error& e, const std::vector<std::string>& ports) const;

  const std::string endpoint_;
  const Millis timeout_;
  std::mutex apply_mu_;  // one Apply at a time: their reads and writes do not interleave
  std::mutex mu_;        // one request at a time on client_
  std::unique_ptr<OvsdbClient> client_;
};

}  // namespace corepin::ovsdb
