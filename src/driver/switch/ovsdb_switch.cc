#include "driver/switch/ovsdb_switch.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <set>
#include <thread>

#include "common/text.h"

namespace corepin::ovsdb {
namespace {

// ---- OVSDB values (RFC 7047 5.1): ["set",[...]], ["map",[[k,v],...]], ["uuid","..."] ----

std::vector<Json> Atoms(const Json& v) {
  if (v.is_array() && v.size() == 2 && v[0] == "set") return v[1].get<std::vector<Json>>();
  return {v};
}
Json Set(const std::vector<Json>& atoms) { return Json::array({"set", atoms}); }
Json Uuid(const std::string& u) { return Json::array({"uuid", u}); }
std::string UuidOf(const Json& v) { return v.is_array() && v.size() == 2 ? v[1].get<std::string>() : ""; }

std::string MapGet(const Json& map, const std::string& key) {
  if (!map.is_array() || map.size() != 2 || map[0] != "map") return "";
  for (const auto& kv : map[1])
    if (kv[0] == key) return kv[1].get<std::string>();
  return "";
}

// The VLAN mode Open vSwitch applies: the column, or its default when empty.
std::string EffectiveMode(const std::string& vlan_mode, const std::optional<int>& tag) {
  if (!vlan_mode.empty()) return vlan_mode;
  return tag ? "access" : "trunk";
}
// The mode corepin writes for a state (see PortState).
std::string ModeFor(const PortState& s) {
  if (s.tag && s.trunks.empty()) return "access";
  return s.tag ? "native-untagged" : "trunk";
}

std::string Mark(const PortState& s) {
  return Json{{"tag", s.tag ? Json(*s.tag) : Json(nullptr)}, {"trunks", s.trunks}, {"service", s.service}}.dump();
}

std::optional<PortState> ParseMark(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  PortState s;
  try {
    if (j.contains("tag") && !j["tag"].is_null()) s.tag = j["tag"].get<int>();
    s.trunks = j.value("trunks", std::vector<int>{});
    s.service = j.value("service", false);
  } catch (const Json::exception&) {
    return std::nullopt;
  }
  return s;
}

// A Port row as read (columns name, tag, trunks, vlan_mode, external_ids).
struct PortRow {
  std::string uuid;
  ActualPort actual;
  std::string mode;  // effective VLAN mode
  Json found;        // tag, trunks, vlan_mode as read
};

PortRow DecodePort(const std::string& uuid, const Json& row, const std::string& bridge) {
  PortRow r;
  r.uuid = uuid;
  PortState& s = r.actual.state;
  s.bridge = bridge;
  s.port = row.value("name", "");
  for (const auto& a : Atoms(row.value("tag", Set({})))) s.tag = a.get<int>();
  for (const auto& a : Atoms(row.value("trunks", Set({})))) s.trunks.push_back(a.get<int>());
  std::sort(s.trunks.begin(), s.trunks.end());
  std::string vlan_mode;
  for (const auto& a : Atoms(row.value("vlan_mode", Set({})))) vlan_mode = a.get<std::string>();
  r.mode = EffectiveMode(vlan_mode, s.tag);
  r.found = {{"tag", row.value("tag", Set({}))},
             {"trunks", row.value("trunks", Set({}))},
             {"vlan_mode", row.value("vlan_mode", Set({}))}};
  if (auto mark = ParseMark(MapGet(row.value("external_ids", Json()), kMarkKey))) {
    mark->bridge = bridge;
    mark->port = s.port;
    s.service = mark->service && s.tag == mark->tag;  // still on the VLAN corepin gave it
    r.actual.by_hand = !s.SameVlans(*mark) || r.mode != ModeFor(*mark);
    r.actual.corepin_set = std::move(*mark);
  }
  return r;
}

const Json kPortColumns = {"name", "tag", "trunks", "vlan_mode", "external_ids"};

// Port uuid -> bridge name, from Bridge rows {uuid: {"name", "ports"}}.
std::map<std::string, std::string> PortBridges(const std::map<std::string, Json>& bridges) {
  std::map<std::string, std::string> out;
  for (const auto& [uuid, row] : bridges)
    for (const auto& p : Atoms(row.value("ports", Set({})))) out[UuidOf(p)] = row.value("name", "");
  return out;
}

// Everything Apply and Read need, from one transaction.
struct Snapshot {
  std::set<std::string> bridges;
  std::map<std::string, PortRow> ports;  // by name (unique in OVSDB)
};

std::string Ref(const PortState& s) { return s.bridge + "/" + s.port; }

}  // namespace

OvsdbSwitch::OvsdbSwitch(std::string endpoint, Millis timeout) : endpoint_(std::move(endpoint)), timeout_(timeout) {}

Result<Json> OvsdbSwitch::Transact(Json ops) {
  std::lock_guard lock(mu_);
  if (!client_ || !client_->ok()) {
    auto c = OvsdbClient::Connect(endpoint_, timeout_);
    if (!c.ok()) return c.error();
    client_ = std::move(*c);
  }
  ops.insert(ops.begin(), kDatabase);
  return client_->Call("transact", std::move(ops), timeout_);
}

// Prefixes an error with the switch and the ports it concerns, and says nothing was changed.
Error OvsdbSwitch::Failed(const Error& e, const std::vector<std::string>& ports) const {
  std::string msg = "switch " + uri() + ": ";
  if (!ports.empty()) msg += "port(s) " + Join(ports) + ": ";
  return {e.code, msg + e.message + "; nothing changed, retry when fixed"};
}

namespace {

// One transaction of selects: every Bridge (name, ports), and the Port rows named in `names`
// plus those tagged with one of `vlans`; every Port row when `names` is null. Selecting by
// name keeps Apply's cost with the ports it is given, not with the size of the switch.
Result<Snapshot> ReadSnapshot(const std::function<Result<Json>(Json)>& transact,
                              const std::vector<std::string>* names, const std::set<int>& vlans) {
  const Json columns = {"_uuid", "name", "tag", "trunks", "vlan_mode", "external_ids"};
  auto select = [&](const char* table, Json where, Json cols) {
    return Json{{"op", "select"}, {"table", table}, {"where", std::move(where)}, {"columns", std::move(cols)}};
  };
  Json ops = Json::array({select("Bridge", Json::array(), {"_uuid", "name", "ports"})});
  if (!names) ops.push_back(select("Port", Json::array(), columns));
  else
    for (const auto& n : *names) ops.push_back(select("Port", Json::array({Json::array({"name", "==", n})}), columns));
  for (int v : vlans) ops.push_back(select("Port", Json::array({Json::array({"tag", "==", v})}), columns));
  auto r = transact(ops);
  if (!r.ok()) return r.error();
  const Json& res = *r;
  if (!res.is_array() || res.size() < ops.size()) return Unavailable("unexpected reply to select: " + res.dump());
  for (size_t i = 0; i < ops.size(); ++i)
    if (!res[i].contains("rows")) return Unavailable("select failed: " + res[i].dump());
  std::map<std::string, Json> bridge_rows;
  Snapshot snap;
  for (const auto& b : res[0]["rows"]) {
    bridge_rows[UuidOf(b["_uuid"])] = b;
    snap.bridges.insert(b.value("name", ""));
  }
  auto port_bridge = PortBridges(bridge_rows);
  for (size_t i = 1; i < ops.size(); ++i)
    for (const auto& p : res[i]["rows"]) {
      std::string uuid = UuidOf(p["_uuid"]);
      auto it = port_bridge.find(uuid);
      PortRow row = DecodePort(uuid, p, it == port_bridge.end() ? "" : it->second);
      snap.ports[row.actual.state.port] = std::move(row);
    }
  return snap;
}

// NotFound naming what is missing, or nullopt when the port is where it should be.
std::optional<std::string> Locate(const Snapshot& snap, const std::string& bridge, const std::string& port) {
  if (!snap.bridges.count(bridge)) return "bridge " + bridge + " does not exist";
  auto it = snap.ports.find(port);
  if (it == snap.ports.end()) return "no such port on bridge " + bridge;
  const std::string& actual = it->second.actual.state.bridge;
  if (actual != bridge) return actual.empty() ? "port is in no bridge" : "port is on bridge " + actual + ", not " + bridge;
  return std::nullopt;
}

}  // namespace

Result<PortReadings> OvsdbSwitch::Read(const std::vector<PortRef>& ports) {
  std::vector<std::string> names, refs;
  for (const auto& p : ports) {
    names.push_back(p.port);
    refs.push_back(p.bridge + "/" + p.port);
  }
  auto snap = ReadSnapshot([this](Json ops) { return Transact(std::move(ops)); }, ports.empty() ? nullptr : &names, {});
  if (!snap.ok()) return Failed(snap.error(), refs);
  PortReadings out;
  if (ports.empty()) {  // every port corepin marked
    for (const auto& [name, row] : snap->ports)
      if (row.actual.corepin_set) out.ports.push_back(row.actual);
  }
  std::vector<std::string> missing;
  for (const auto& p : ports) {
    if (auto why = Locate(*snap, p.bridge, p.port)) missing.push_back(p.port + " (" + *why + ")");
    else out.ports.push_back(snap->ports.at(p.port).actual);
  }
  if (!missing.empty()) return Failed(NotFound("not found"), missing);
  size_t drift = std::count_if(out.ports.begin(), out.ports.end(), [](const ActualPort& a) { return a.by_hand; });
  out.summary = std::to_string(out.ports.size()) + " port(s) read, " + std::to_string(drift) + " changed by hand";
  return out;
}

Result<Plan> OvsdbSwitch::MakePlan(std::vector<PortState> desired) {
  if (Status s = ValidateDesired(desired); !s.ok()) return Error{s.error().code, "switch " + uri() + ": " + s.error().message};
  std::vector<std::string> names;
  std::set<int> service_vlans;
  for (const auto& d : desired) {
    names.push_back(d.port);
    if (d.service) service_vlans.insert(*d.tag);
  }
  auto snap = ReadSnapshot([this](Json ops) { return Transact(std::move(ops)); }, &names, service_vlans);
  if (!snap.ok()) return Failed(snap.error(), names);

  std::vector<std::string> missing;
  for (const auto& d : desired)
    if (auto why = Locate(*snap, d.bridge, d.port)) missing.push_back(d.port + " (" + *why + ")");
  if (!missing.empty()) return Failed(NotFound("not found"), missing);

  // A port corepin is not given, tagged with a service VLAN on a bridge where corepin's VM ports
  // are, would share the service: refuse rather than touch a port that is not ours. Other
  // bridges (top of rack, clients, uplinks) carry the service VLAN by design.
  Plan plan;
  std::set<std::string> given(names.begin(), names.end());
  std::set<std::string> vm_bridges;
  for (const auto& d : desired) vm_bridges.insert(d.bridge);
  std::map<int, std::string> service;  // VLAN -> desired service port
  for (const auto& d : desired) {
    if (!d.service) continue;
    service[*d.tag] = d.port;
    plan.service_vlan_holders[*d.tag];  // guarded even when no port holds it yet
  }
  std::vector<std::string> conflicts;
  for (const auto& [name, row] : snap->ports) {
    const auto& tag = row.actual.state.tag;
    if (!tag || !service.count(*tag)) continue;
    plan.service_vlan_holders[*tag].push_back(name);  // the write is guarded on all of them
    if (!given.count(name) && vm_bridges.count(row.actual.state.bridge))
      conflicts.push_back(name + " (on " + (row.actual.state.bridge.empty() ? "no bridge" : row.actual.state.bridge) +
                          ") holds service VLAN " + std::to_string(*tag) + " of port " + service[*tag] +
                          " but corepin does not manage it: remove its tag, or give it to corepin");
  }
  if (!conflicts.empty()) return Failed(Conflict(Join(conflicts, "; ")), {});

  for (const auto& d : desired) {
    const PortRow& row = snap->ports.at(d.port);
    const auto& mark = row.actual.corepin_set;
    bool same = row.actual.state.SameVlans(d) && row.mode == ModeFor(d) && mark && mark->SameVlans(d) &&
                mark->service == d.service;
    if (same) {
      plan.unchanged.push_back(Ref(d));
      continue;
    }
    plan.writes.push_back({{row.actual.state, d, row.actual.by_hand, row.mode, ModeFor(d)}, row.uuid, row.found});
  }
  return plan;
}

Result<SwitchReport> OvsdbSwitch::Commit(const Plan& plan, const std::string& reason, bool* raced) {
  if (raced) *raced = false;
  SwitchReport report;
  report.unchanged = plan.unchanged;
  std::vector<std::string> names;
  for (const auto& w : plan.writes) names.push_back(w.change.after.port);
  if (!plan.writes.empty()) {
    Json ops = Json::array();
    std::vector<std::string> guards;  // guards[i]: what ops[i] asserts, for a failed wait
    auto add = [&](Json op, std::string guard = "") {
      ops.push_back(std::move(op));
      guards.push_back(std::move(guard));
    };
    add({{"op", "comment"}, {"comment", "corepin: " + reason}});
    // The guards: every port to be written is still as read, and each service VLAN is still
    // held by the same ports. A concurrent change (by hand) fails the whole transaction.
    for (const auto& w : plan.writes)
      add({{"op", "wait"}, {"table", "Port"}, {"timeout", 0}, {"where", {{"_uuid", "==", Uuid(w.uuid)}}},
           {"columns", {"tag", "trunks", "vlan_mode"}}, {"until", "=="}, {"rows", Json::array({w.found})}},
          "port " + w.change.after.port + " changed (by hand?) since corepin read it");
    for (const auto& [vlan, holders] : plan.service_vlan_holders) {
      Json rows = Json::array();
      for (const auto& h : holders) rows.push_back({{"name", h}});
      add({{"op", "wait"}, {"table", "Port"}, {"timeout", 0}, {"where", {{"tag", "==", vlan}}},
           {"columns", {"name"}}, {"until", "=="}, {"rows", rows}},
          "the ports on service VLAN " + std::to_string(vlan) + " changed (by hand?) since corepin read them");
    }
    for (const auto& w : plan.writes) {
      const PortState& d = w.change.after;
      std::vector<Json> trunks(d.trunks.begin(), d.trunks.end());
      Json where = {{"_uuid", "==", Uuid(w.uuid)}};
      add({{"op", "update"}, {"table", "Port"}, {"where", where},
           {"row", {{"tag", d.tag ? Json(*d.tag) : Set({})}, {"trunks", Set(trunks)}, {"vlan_mode", ModeFor(d)}}}});
      // Only corepin's key of external_ids: other keys belong to others (libvirt, the lab).
      add({{"op", "mutate"}, {"table", "Port"}, {"where", where},
           {"mutations", {{"external_ids", "delete", Set({kMarkKey})},
                          {"external_ids", "insert", Json::array({"map", Json::array({Json::array({kMarkKey, Mark(d)})})})}}}});
    }
    auto r = Transact(ops);
    if (!r.ok()) return Failed(r.error(), names);
    if (!r->is_array()) return Failed(Unavailable("unexpected reply to transact: " + r->dump()), names);
    for (size_t i = 0; i < r->size(); ++i) {
      const Json& res = (*r)[i];
      if (!res.is_object() || !res.contains("error")) continue;
      std::string err = res.value("error", ""), details = res.value("details", "");
      if (err == "timed out" && i < guards.size() && !guards[i].empty()) {
        if (raced) *raced = true;
        return Failed(Conflict(guards[i]), names);
      }
      std::string what = i < ops.size() ? ops[i].value("op", "") + " failed: " : "commit failed: ";
      return Failed(Unprocessable(what + err + (details.empty() ? "" : " (" + details + ")")), names);
    }
  }
  std::vector<std::string> lines;
  for (const auto& w : plan.writes) {
    report.changed.push_back(w.change);
    lines.push_back(w.change.Describe());
  }
  report.summary = reason + ": " + (lines.empty() ? "no change" : Join(lines, "; ")) + "; " +
                   std::to_string(plan.unchanged.size()) + " port(s) already as desired";
  return report;
}

Result<std::vector<std::string>> OvsdbSwitch::RemovePorts(const std::vector<PortRef>& ports, const std::string& reason) {
  std::lock_guard lock(apply_mu_);
  std::vector<std::string> names, refs;
  for (const auto& p : ports) {
    names.push_back(p.port);
    refs.push_back(p.bridge + "/" + p.port);
  }
  auto snap = ReadSnapshot([this](Json ops) { return Transact(std::move(ops)); }, &names, {});
  if (!snap.ok()) return Failed(snap.error(), refs);
  Json ops = Json::array({{{"op", "comment"}, {"comment", "corepin: " + reason}}});
  std::vector<std::string> removed, foreign;
  for (const auto& p : ports) {
    auto it = snap->ports.find(p.port);
    if (it == snap->ports.end() || it->second.actual.state.bridge != p.bridge) continue;  // gone already
    if (!it->second.actual.corepin_set) {
      foreign.push_back(p.bridge + "/" + p.port);
      continue;
    }
    ops.push_back({{"op", "mutate"}, {"table", "Bridge"}, {"where", Json::array({Json::array({"name", "==", p.bridge})})},
                   {"mutations", Json::array({Json::array({"ports", "delete", Uuid(it->second.uuid)})})}});
    removed.push_back(p.bridge + "/" + p.port);
  }
  if (!foreign.empty()) return Failed(Conflict("not corepin's (no corepin mark): left as they are"), foreign);
  if (removed.empty()) return removed;
  auto r = Transact(ops);
  if (!r.ok()) return Failed(r.error(), refs);
  for (const auto& res : *r)
    if (res.is_object() && res.contains("error"))
      return Failed(Unprocessable("remove failed: " + res.value("error", "") + " " + res.value("details", "")), refs);
  return removed;
}

Result<SwitchReport> OvsdbSwitch::Apply(const std::vector<PortState>& desired, const std::string& reason) {
  std::lock_guard lock(apply_mu_);
  for (int attempt = 1;; ++attempt) {
    auto plan = MakePlan(desired);
    if (!plan.ok()) return plan.error();
    bool raced = false;
    auto report = Commit(*plan, reason, &raced);
    if (report.ok() || !raced || attempt == 3) return report;
    // Someone changed a port between our read and our write: read again and redo.
  }
}

// ---- Watch ----

namespace {

class OvsdbWatch : public SwitchWatch {
 public:
  OvsdbWatch(std::string endpoint, Millis timeout, WatchCallback cb)
      : endpoint_(std::move(endpoint)), timeout_(timeout), cb_(std::move(cb)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~OvsdbWatch() override {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  bool managed() const override { return true; }

 private:
  void Run() {
    bool reported_loss = false;
    while (!stop_) {
      if (!client_ || !client_->ok()) {
        Status s = Subscribe();
        if (!s.ok()) {
          client_.reset();
          if (!reported_loss) cb_({{}, false, s.error().message});
          reported_loss = true;
          std::unique_lock l(mu_);  // retry in 1 s, or stop sooner
          cv_.wait_for(l, std::chrono::seconds(1), [this] { return stop_.load(); });
          continue;
        }
        reported_loss = false;
        continue;
      }
      auto n = client_->NextNotification(Millis(100));
      if (!n.ok()) {
        cb_({{}, false, n.error().message + "; reconnecting"});
        reported_loss = true;
        client_.reset();
        continue;
      }
      if (!n->has_value()) {
        // Silence: probe the server now and then, so a dead TCP peer shows up as an error.
        if (std::chrono::steady_clock::now() - last_heard_ > std::chrono::seconds(5)) {
          auto e = client_->Call("echo", Json::array(), timeout_);
          if (!e.ok()) {
            cb_({{}, false, e.error().message + "; reconnecting"});
            reported_loss = true;
            client_.reset();
            continue;
          }
          last_heard_ = std::chrono::steady_clock::now();
        }
        continue;
      }
      last_heard_ = std::chrono::steady_clock::now();
      const Json& msg = **n;
      if (msg.value("method", "") == "update" && msg["params"].is_array() && msg["params"].size() == 2)
        cb_(ApplyUpdate(msg["params"][1], false));
    }
  }

  Status Subscribe() {
    auto c = OvsdbClient::Connect(endpoint_, timeout_);
    if (!c.ok()) return c.error();
    client_ = std::move(*c);
    Json requests = {{"Bridge", {{"columns", {"name", "ports"}}}}, {"Port", {{"columns", kPortColumns}}}};
    auto r = client_->Call("monitor", Json::array({kDatabase, "corepin", requests}), timeout_);
    if (!r.ok()) return r.error();
    bridges_.clear();
    ports_.clear();
    last_heard_ = std::chrono::steady_clock::now();
    cb_(ApplyUpdate(*r, true));
    return Status::Ok();
  }

  // Applies table-updates {table: {uuid: {"old", "new"}}} to the replica and returns the Port
  // rows they touched. For a monitor (not monitor_cond), "new" holds every monitored column.
  WatchUpdate ApplyUpdate(const Json& updates, bool resync) {
    auto before = PortBridges(bridges_);
    if (updates.contains("Bridge"))
      for (const auto& [uuid, ru] : updates["Bridge"].items()) {
        if (ru.contains("new")) bridges_[uuid] = ru["new"];
        else bridges_.erase(uuid);
      }
    auto after = PortBridges(bridges_);
    WatchUpdate out;
    out.resync = resync;
    if (!updates.contains("Port")) return out;
    for (const auto& [uuid, ru] : updates["Port"].items()) {
      if (ru.contains("new")) {
        ports_[uuid] = ru["new"];
        out.ports.push_back({DecodePort(uuid, ru["new"], after[uuid]).actual, false});
      } else {
        Json old = ports_.count(uuid) ? ports_[uuid] : ru.value("old", Json::object());
        out.ports.push_back({DecodePort(uuid, old, before[uuid]).actual, true});
        ports_.erase(uuid);
      }
    }
    return out;
  }

  const std::string endpoint_;
  const Millis timeout_;
  const WatchCallback cb_;
  std::unique_ptr<OvsdbClient> client_;
  std::map<std::string, Json> bridges_, ports_;  // the replica, by uuid
  std::chrono::steady_clock::time_point last_heard_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<SwitchWatch>> OvsdbSwitch::Watch(WatchCallback on_update) {
  return std::unique_ptr<SwitchWatch>(new OvsdbWatch(endpoint_, timeout_, std::move(on_update)));
}

}  // namespace corepin::ovsdb
