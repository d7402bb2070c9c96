#include "driver/fixture_hypervisor.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "driver/domain_xml.h"
#include "topology/fixtures.h"

namespace corepin {
namespace {

using nlohmann::json;

constexpr const char* kScheme = "fixture:";

std::string StateDir() {
  const char* env = std::getenv("COREPIN_FIXTURE_STATE_DIR");
  return env && *env ? env : "/var/lib/corepin/fixture-hosts";
}

// One file per URI, named so that any URI maps to a safe file name.
std::string StateFile(const std::string& uri) {
  std::string name;
  for (char c : uri) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return StateDir() + "/" + name + ".json";
}

// Serializes access to the state files of every fixture host in this process.
std::mutex& FileMutex() {
  static std::mutex mu;
  return mu;
}

class FixtureHypervisor : public Hypervisor {
 public:
  FixtureHypervisor(std::string uri, HostTopology topo) : uri_(std::move(uri)), topo_(std::move(topo)) {}

  Result<HostTopology> ReadTopology() override { return topo_; }

  Status DefineAndStart(const DomainRequest& r) override {
    std::lock_guard lock(FileMutex());
    auto doms = Load();
    if (!doms) return doms.error();
    if (doms->contains(r.spec.name)) return Conflict("domain " + r.spec.name + " already exists on " + uri_);
    const CpuSet all = topo_.AllPcpus();
    for (size_t i = 0; i < r.assignment.vcpu_pcpus.size(); ++i)
      if (!all.Contains(r.assignment.vcpu_pcpus[i]))
        return Unavailable("fixture host " + uri_ + ": vCPU " + std::to_string(i) + " pinned to pCPU " +
                           std::to_string(r.assignment.vcpu_pcpus[i]) + ", which this host does not have");
    auto xml = BuildDomainXml(r.spec, r.assignment, topo_, r.metadata_json, r.host_options, r.role);
    if (!xml.ok()) return Error{xml.error().code, xml.error().message + " (on " + uri_ + ")"};
    json pins = json::array();
    for (int p : r.assignment.vcpu_pcpus) pins.push_back(std::to_string(p));
    (*doms)[r.spec.name] = {{"xml", *xml},
                            {"metadata", r.metadata_json},
                            {"vcpu_pins", pins},
                            {"emulator_pin", r.assignment.emulator.ToString()},
                            {"active", true}};
    return Save(*doms);
  }

  Status Start(const std::string& name) override {
    std::lock_guard lock(FileMutex());
    auto doms = Load();
    if (!doms) return doms.error();
    if (!doms->contains(name)) return NotFound("domain " + name + " is not on " + uri_);
    (*doms)[name]["active"] = true;
    return Save(*doms);
  }

  // A simulated host's domains never stop by themselves.
  Result<std::unique_ptr<LifecycleWatch>> WatchStops(std::function<void(const std::string&, const std::string&)>) override {
    return std::make_unique<LifecycleWatch>();
  }

  Status DestroyAndUndefine(const std::string& name) override {
    std::lock_guard lock(FileMutex());
    auto doms = Load();
    if (!doms) return doms.error();
    doms->erase(name);
    return Save(*doms);
  }

  Result<std::vector<DomainInfo>> ListCorepinDomains() override {
    std::lock_guard lock(FileMutex());
    auto doms = Load();
    if (!doms) return doms.error();
    std::vector<DomainInfo> out;
    for (const auto& [name, d] : doms->items()) out.push_back(Info(name, d));
    return out;
  }

  Result<DomainInfo> GetDomain(const std::string& name) override {
    std::lock_guard lock(FileMutex());
    auto doms = Load();
    if (!doms) return doms.error();
    if (!doms->contains(name)) return NotFound("domain " + name + " is not on " + uri_);
    return Info(name, (*doms)[name]);
  }

  Status Repin(const std::string& name, const std::vector<CpuSet>& vcpu_pins, const CpuSet& emulator_pin,
               const std::string& metadata_json) override {
    std::lock_guard lock(FileMutex());
    auto doms = Load();
    if (!doms) return doms.error();
    if (!doms->contains(name)) return NotFound("domain " + name + " is not on " + uri_);
    json& d = (*doms)[name];
    if (vcpu_pins.size() != d["vcpu_pins"].size())
      return Invalid("domain " + name + " has " + std::to_string(d["vcpu_pins"].size()) + " vCPUs, not " + std::to_string(vcpu_pins.size()));
    auto xml = RepinDomainXml(d.value("xml", ""), vcpu_pins, emulator_pin, metadata_json);
    if (!xml) return Error{xml.error().code, "domain " + name + " on " + uri_ + ": " + xml.error().message};
    json pins = json::array();
    for (const auto& p : vcpu_pins) pins.push_back(p.ToString());
    d["xml"] = *xml;
    d["vcpu_pins"] = pins;
    d["emulator_pin"] = emulator_pin.ToString();
    d["metadata"] = metadata_json;
    return Save(*doms);
  }

  // Simulated: the domain is defined and running on the destination (a fixture host too) with
  // the request's definition, then removed here; its "memory" moves at once.
  Status MigrateLive(const std::string& name, Hypervisor& dest, const MigrateRequest& r) override {
    if (!dynamic_cast<FixtureHypervisor*>(&dest))
      return Unprocessable("fixture host " + uri_ + ": VM " + name + " can migrate only to another fixture host, not " + dest.uri());
    auto here = GetDomain(name);
    if (!here) return here.error();
    if (!here->active) return Unavailable("domain " + name + " on " + uri_ + " is not running; a live migration needs it running");
    if (auto s = dest.DefineAndStart(r.domain); !s) return s;
    return DestroyAndUndefine(name);
  }

  // A simulated migration is over by the time MigrateLive returns: there is never one to abort.
  Status AbortMigration(const std::string& name) override {
    return Conflict("VM '" + name + "' has no migration running on " + uri_);
  }

  std::string uri() const override { return uri_; }
  Status Probe() override { return Status::Ok(); }  // a simulated host never fails

  // A simulated vCPU never runs: zero time, on the pCPU it is pinned to.
  Result<std::vector<VcpuStat>> VcpuStats(const std::string& name) override {
    auto dom = GetDomain(name);
    if (!dom) return dom.error();
    if (!dom->active) return Unavailable("VM '" + name + "' is not running on " + uri_);
    std::vector<VcpuStat> out;
    for (size_t i = 0; i < dom->vcpu_pins.size(); ++i)
      out.push_back({.vcpu = static_cast<int>(i), .pcpu = dom->vcpu_pins[i].First(), .cpu_time_ns = 0, .delay_ns = 0, .wait_ns = 0});
    return out;
  }

 private:
  static DomainInfo Info(const std::string& name, const json& d) {
    DomainInfo info;
    info.name = name;
    info.active = d.value("active", false);
    info.metadata_json = d.value("metadata", "");
    for (const auto& p : d["vcpu_pins"]) info.vcpu_pins.push_back(*CpuSet::Parse(p.get<std::string>()));
    info.emulator_pin = *CpuSet::Parse(d.value("emulator_pin", ""));
    // Its stored definition is the domain's truth, as libvirt's would be.
    if (auto nodes = NumatuneNodeset(d.value("xml", ""))) info.memory_nodes = *nodes;
    return info;
  }

  Result<json> Load() const {
    std::ifstream in(StateFile(uri_));
    if (!in) return json::object();
    json j = json::parse(in, nullptr, false);
    if (!j.is_object()) return Internal("fixture host state " + StateFile(uri_) + " is corrupt");
    return j;
  }

  // Write-then-rename, so a crash leaves the old file or the new one, never half of one.
  Status Save(const json& doms) const {
    std::error_code ec;
    std::filesystem::create_directories(StateDir(), ec);
    const std::string path = StateFile(uri_), tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << doms.dump();
      if (!out.flush()) return Unavailable("cannot write fixture host state " + tmp);
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) return Unavailable("cannot write fixture host state " + path + ": " + ec.message());
    return Status::Ok();
  }

  std::string uri_;
  HostTopology topo_;
};

}  // namespace

bool IsFixtureUri(const std::string& uri) { return uri.rfind(kScheme, 0) == 0; }

Result<std::unique_ptr<Hypervisor>> ConnectFixtureHypervisor(const std::string& uri) {
  std::string rest = uri.substr(std::string(kScheme).size());
  if (auto hash = rest.find('#'); hash != std::string::npos) rest = rest.substr(0, hash);
  std::string path = rest.rfind("//", 0) == 0 ? rest.substr(2) : HostFixturePath(rest);
  auto topo = LoadHostFixture(path);
  if (!topo) return Unprocessable("cannot connect to hypervisor " + uri + ": " + topo.error().message);
  return std::unique_ptr<Hypervisor>(std::make_unique<FixtureHypervisor>(uri, std::move(*topo)));
}

}  // namespace corepin
