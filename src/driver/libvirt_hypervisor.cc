// Hypervisor over libvirt's C API.
#include <algorithm>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "driver/domain_xml.h"
#include "driver/fixture_hypervisor.h"
#include "driver/hypervisor.h"
#include "topology/capabilities_parser.h"

namespace corepin {
namespace {

// libvirt's message for the last failed call on this thread (errors are thread-local).
std::string LastError() {
  const char* m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

// Process-wide libvirt set-up, once: no error printing to stderr (we return the messages),
// and a default event loop on a background thread, which keepalive needs to run.
void InitLibvirtOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
    if (virEventRegisterDefaultImpl() == 0) {
      std::thread([] {
        for (;;) virEventRunDefaultImpl();
      }).detach();
    }
  });
}

struct DomainFree {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using DomainPtr = std::unique_ptr<virDomain, DomainFree>;
struct NodeDeviceFree {
  void operator()(virNodeDevicePtr d) const { virNodeDeviceFree(d); }
};
using NodeDevicePtr = std::unique_ptr<virNodeDevice, NodeDeviceFree>;
struct CFree {
  void operator()(char* p) const { free(p); }
};
using CString = std::unique_ptr<char, CFree>;

std::string Take(char* p) { return p ? std::string(CString(p).get()) : std::string(); }

// Reads a libvirt cpumap (maplen bytes) into a CpuSet.
CpuSet FromCpumap(const unsigned char* map, int maplen) {
  CpuSet s;
  for (int cpu = 0; cpu < maplen * 8 && cpu < CpuSet::kMaxCpus; ++cpu)
    if (VIR_CPU_USED(map, cpu)) s.Add(cpu);
  return s;
}

// A CpuSet as a libvirt cpumap of maplen bytes.
std::vector<unsigned char> ToCpumap(const CpuSet& set, int maplen) {
  std::vector<unsigned char> map(static_cast<size_t>(maplen), 0);
  for (int cpu : set.ToVector())
    if (cpu < maplen * 8) VIR_USE_CPU(map.data(), cpu);
  return map;
}

// corepin's domains boot BIOS, so there is no NVRAM to remove (and the test driver rejects
// that flag); a managed save or snapshot an operator made must not block the undefine.
constexpr unsigned kUndefineFlags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;

// A registration of libvirt lifecycle events, reporting the stops nobody asked for.
struct StopWatch : Hypervisor::LifecycleWatch {
  virConnectPtr conn = nullptr;
  int id = -1;
  std::function<void(const std::string&, const std::string&)> on_stop;
  ~StopWatch() override {
    if (id >= 0) virConnectDomainEventDeregisterAny(conn, id);
  }
  static int OnLifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void* opaque) {
    const char* why = nullptr;
    if (event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_FAILED) why = "QEMU failed or was killed";
    if (event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED) why = "the guest crashed";
    if (event == VIR_DOMAIN_EVENT_STOPPED && detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN) why = "the guest shut down";
    if (event == VIR_DOMAIN_EVENT_CRASHED) why = "the guest crashed";
    if (why) static_cast<StopWatch*>(opaque)->on_stop(virDomainGetName(dom), why);
    return 0;
  }
};

class LibvirtHypervisor : public Hypervisor {
 public:
  LibvirtHypervisor(std::string uri, virConnectPtr conn) : uri_(std::move(uri)), conn_(conn) {}
  ~LibvirtHypervisor() override { virConnectClose(conn_); }

  std::string uri() const override { return uri_; }

  Status Probe() override {
    unsigned long version = 0;
    if (virConnectGetLibVersion(conn_, &version) < 0) return Unavailable(Where() + "no answer: " + LastError());
    return Status::Ok();
  }

  Result<HostTopology> ReadTopology() override {
    std::string caps = Take(virConnectGetCapabilities(conn_));
    if (caps.empty()) return Unavailable(Where() + "cannot read capabilities: " + LastError());
    auto topo = ParseCapabilities(caps);
    if (!topo.ok()) return Error{topo.error().code, Where() + topo.error().message};

    virNodeDevicePtr* list = nullptr;
    int n = virConnectListAllNodeDevices(conn_, &list, VIR_CONNECT_LIST_NODE_DEVICES_CAP_NET);
    // Drivers without the capability filter (the test driver) list everything; AddNics
    // keeps the net devices.
    if (n < 0 && virGetLastErrorCode() == VIR_ERR_INVALID_ARG) n = virConnectListAllNodeDevices(conn_, &list, 0);
    if (n < 0) {
      if (virGetLastErrorCode() == VIR_ERR_NO_SUPPORT) return topo;  // a driver without node devices: no NICs
      return Unavailable(Where() + "cannot list network devices: " + LastError());
    }
    std::vector<NodeDevicePtr> devs(list, list + n);
    free(list);
    std::vector<NodeDeviceXml> xmls;
    for (const auto& dev : devs) {
      NodeDeviceXml x;
      x.net_xml = Take(virNodeDeviceGetXMLDesc(dev.get(), 0));
      if (x.net_xml.empty()) continue;  // gone since the listing
      if (const char* parent = virNodeDeviceGetParent(dev.get())) {  // owned by dev
        NodeDevicePtr p(virNodeDeviceLookupByName(conn_, parent));
        if (p) x.parent_xml = Take(virNodeDeviceGetXMLDesc(p.get(), 0));
      }
      xmls.push_back(std::move(x));
    }
    if (auto s = AddNics(xmls, &*topo); !s.ok()) return Error{s.error().code, Where() + s.error().message};
    return topo;
  }

  Status DefineAndStart(const DomainRequest& r) override {
    const std::string& name = r.spec.name;
    if (DomainPtr existing{virDomainLookupByName(conn_, name.c_str())})
      return Conflict("VM '" + name + "': a domain of that name already exists on " + uri_);
    auto xml = BuildDomainXml(r.spec, r.assignment, r.topology, r.metadata_json, r.host_options, r.role);
    if (!xml.ok()) return Error{xml.error().code, xml.error().message + " (on " + uri_ + ")"};
    DomainPtr dom(virDomainDefineXMLFlags(conn_, xml->c_str(), VIR_DOMAIN_DEFINE_VALIDATE));
    if (!dom) return Unavailable("VM '" + name + "': libvirt refused its definition on " + uri_ + ": " + LastError());
    if (virDomainCreate(dom.get()) < 0) {
      std::string msg = "VM '" + name + "': libvirt could not start it on " + uri_ + ": " + LastError();
      if (auto s = Remove(dom.get()); !s.ok()) msg += "; and removing it failed: " + s.error().message;
      return Unavailable(msg);
    }
    return Status::Ok();
  }

  Status Start(const std::string& name) override {
    DomainPtr dom(virDomainLookupByName(conn_, name.c_str()));
    if (!dom) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return NotFound("VM '" + name + "': no such domain on " + uri_);
      return Unavailable("VM '" + name + "': cannot look it up on " + uri_ + ": " + LastError());
    }
    if (virDomainIsActive(dom.get()) == 1) return Status::Ok();
    if (virDomainCreate(dom.get()) < 0) return Unavailable("VM '" + name + "': libvirt could not start it on " + uri_ + ": " + LastError());
    return Status::Ok();
  }

  Result<std::unique_ptr<LifecycleWatch>> WatchStops(std::function<void(const std::string&, const std::string&)> on_stop) override {
    auto watch = std::make_unique<StopWatch>();
    watch->conn = conn_;
    watch->on_stop = std::move(on_stop);
    watch->id = virConnectDomainEventRegisterAny(conn_, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                 VIR_DOMAIN_EVENT_CALLBACK(&StopWatch::OnLifecycle), watch.get(), nullptr);
    if (watch->id < 0) return Unavailable(Where() + "cannot follow domain lifecycle events: " + LastError());
    return std::unique_ptr<LifecycleWatch>(std::move(watch));
  }

  Status DestroyAndUndefine(const std::string& name) override {
    DomainPtr dom(virDomainLookupByName(conn_, name.c_str()));
    if (!dom) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return Status::Ok();
      return Unavailable("VM '" + name + "': cannot look it up on " + uri_ + ": " + LastError());
    }
    if (auto s = Remove(dom.get()); !s.ok()) return Unavailable("VM '" + name + "': " + s.error().message);
    return Status::Ok();
  }

  Result<std::vector<DomainInfo>> ListCorepinDomains() override {
    virDomainPtr* list = nullptr;
    int n = virConnectListAllDomains(conn_, &list, 0);
    if (n < 0) return Unavailable(Where() + "cannot list domains: " + LastError());
    std::vector<DomainPtr> doms(list, list + n);
    free(list);
    std::vector<DomainInfo> out;
    for (const auto& dom : doms) {
      auto info = Info(dom.get());
      if (!info.ok()) {
        if (info.error().code == ErrorCode::kNotFound) continue;  // undefined since the listing
        return info.error();
      }
      if (!info->metadata_json.empty()) out.push_back(std::move(*info));
    }
    return out;
  }

  Result<DomainInfo> GetDomain(const std::string& name) override {
    DomainPtr dom(virDomainLookupByName(conn_, name.c_str()));
    if (!dom) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return NotFound("VM '" + name + "': no such domain on " + uri_);
      return Unavailable("VM '" + name + "': cannot look it up on " + uri_ + ": " + LastError());
    }
    return Info(dom.get());
  }

  Result<std::vector<VcpuStat>> VcpuStats(const std::string& name) override {
    DomainPtr dom(virDomainLookupByName(conn_, name.c_str()));
    if (!dom) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return NotFound("VM '" + name + "': no such domain on " + uri_);
      return Unavailable("VM '" + name + "': cannot look it up on " + uri_ + ": " + LastError());
    }
    if (virDomainIsActive(dom.get()) != 1) return Unavailable("VM '" + name + "' is not running on " + uri_);
    // CPU time and the pCPU each vCPU last ran on.
    int n = virDomainGetVcpusFlags(dom.get(), VIR_DOMAIN_AFFECT_LIVE);
    if (n < 0) return Unavailable("VM '" + name + "': cannot read its vCPU count on " + uri_ + ": " + LastError());
    std::vector<virVcpuInfo> info(static_cast<size_t>(n));
    n = virDomainGetVcpus(dom.get(), info.data(), n, nullptr, 0);
    if (n < 0) return Unavailable("VM '" + name + "': cannot read its vCPUs on " + uri_ + ": " + LastError());
    std::vector<VcpuStat> out;
    for (int i = 0; i < n; ++i)
      out.push_back({.vcpu = static_cast<int>(info[i].number), .pcpu = info[i].cpu, .cpu_time_ns = info[i].cpuTime});
    // Wait and delay (runnable, waiting for a pCPU) from the bulk stats, where the driver has them.
    virDomainPtr doms[] = {dom.get(), nullptr};
    virDomainStatsRecordPtr* records = nullptr;
    if (virDomainListGetStats(doms, VIR_DOMAIN_STATS_VCPU, &records, 0) > 0) {
      for (int p = 0; p < records[0]->nparams; ++p) {
        const virTypedParameter& param = records[0]->params[p];
        int vcpu = -1, used = 0;
        char field[16] = "";
        if (std::sscanf(param.field, "vcpu.%d.%15s%n", &vcpu, field, &used) != 2 || param.type != VIR_TYPED_PARAM_ULLONG) continue;
        for (auto& v : out) {
          if (v.vcpu != vcpu) continue;
          if (std::string(field) == "delay") v.delay_ns = static_cast<int64_t>(param.value.ul);
          if (std::string(field) == "wait") v.wait_ns = static_cast<int64_t>(param.value.ul);
        }
      }
      virDomainStatsRecordListFree(records);
    }
    return out;
  }

  Status Repin(const std::string& name, const std::vector<CpuSet>& vcpu_pins, const CpuSet& emulator_pin,
               const std::string& metadata_json) override {
    DomainPtr dom(virDomainLookupByName(conn_, name.c_str()));
    if (!dom) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return NotFound("VM '" + name + "': no such domain on " + uri_);
      return Unavailable("VM '" + name + "': cannot look it up on " + uri_ + ": " + LastError());
    }
    auto fail = [&](const std::string& what) { return Unavailable("VM '" + name + "': libvirt could not " + what + " on " + uri_ + ": " + LastError()); };
    const int active = virDomainIsActive(dom.get());
    const int maplen = MapLength();
    if (active < 0 || maplen < 0) return fail("read its state");
    // What the running domain and the persistent definition hold now: each write costs libvirt
    // a save of the domain's XML (~12 ms here), so only what differs is written, with
    // VIR_DOMAIN_AFFECT_LIVE, _CONFIG or both. libvirt's test driver takes no flags (its
    // domains' state is one, in memory): there everything is written with AFFECT_CURRENT.
    const bool test_driver = uri_.rfind("test:", 0) == 0;
    DomainInfo live, config;
    std::string what;
    if (!test_driver && ((active == 1 && !ReadPins(dom.get(), VIR_DOMAIN_AFFECT_LIVE, &live, &what)) ||
                         !ReadPins(dom.get(), VIR_DOMAIN_AFFECT_CONFIG, &config, &what)))
      return fail("read " + what);
    auto flags = [&](auto&& differs_in) -> int {  // -1: nothing to write
      if (test_driver) return VIR_DOMAIN_AFFECT_CURRENT;
      unsigned f = (active == 1 && differs_in(live) ? VIR_DOMAIN_AFFECT_LIVE : 0) | (differs_in(config) ? VIR_DOMAIN_AFFECT_CONFIG : 0);
      return f ? static_cast<int>(f) : -1;
    };
    for (size_t i = 0; i < vcpu_pins.size(); ++i) {
      const int f = flags([&](const DomainInfo& d) { return i >= d.vcpu_pins.size() || d.vcpu_pins[i] != vcpu_pins[i]; });
      auto map = ToCpumap(vcpu_pins[i], maplen);
      if (f >= 0 && virDomainPinVcpuFlags(dom.get(), static_cast<unsigned>(i), map.data(), maplen, f) < 0)
        return fail("pin vCPU " + std::to_string(i) + " to " + vcpu_pins[i].ToString());
    }
    const int emu_flags = flags([&](const DomainInfo& d) { return d.emulator_pin != emulator_pin; });
    auto emu = ToCpumap(emulator_pin, maplen);
    if (emu_flags >= 0 && virDomainPinEmulator(dom.get(), emu.data(), maplen, emu_flags) < 0)
      return fail("pin its emulator threads to " + emulator_pin.ToString());
    const int meta_flags = flags([&](const DomainInfo& d) {
      const unsigned which = &d == &live ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG;
      char* meta = virDomainGetMetadata(dom.get(), VIR_DOMAIN_METADATA_ELEMENT, kCorepinMetadataUri, which);
      return !meta || MetadataJsonFromElement(Take(meta)) != metadata_json;
    });
    if (meta_flags >= 0 && virDomainSetMetadata(dom.get(), VIR_DOMAIN_METADATA_ELEMENT, MetadataElement(metadata_json).c_str(),
                                                kCorepinMetadataPrefix, kCorepinMetadataUri, meta_flags) < 0)
      return fail("update its corepin metadata");
    return Status::Ok();
  }

  Status MigrateLive(const std::string& name, Hypervisor& dest_hv, const MigrateRequest& r) override {
    auto* dest = dynamic_cast<LibvirtHypervisor*>(&dest_hv);
    const std::string what = "VM '" + name + "': live migration from " + uri_ + " to " + dest_hv.uri();
    if (!dest) return Unprocessable(what + ": the destination is not a libvirt host");
    DomainPtr dom(virDomainLookupByName(conn_, name.c_str()));
    if (!dom) {
      if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) return NotFound("VM '" + name + "': no such domain on " + uri_);
      return Unavailable("VM '" + name + "': cannot look it up on " + uri_ + ": " + LastError());
    }
    if (virDomainIsActive(dom.get()) != 1) return Unavailable(what + ": it is not running");
    const std::string source = Take(virDomainGetXMLDesc(dom.get(), VIR_DOMAIN_XML_MIGRATABLE));
    if (source.empty()) return Unavailable(what + ": cannot read its definition: " + LastError());
    const DomainRequest& d = r.domain;
    auto built = BuildDomainXml(d.spec, d.assignment, d.topology, d.metadata_json, d.host_options, d.role);
    if (!built) return Error{built.error().code, what + ": " + built.error().message};
    auto live = MigrationDomainXml(source, *built, r.vlans);
    auto persistent = MigrationDomainXml(source, *built);
    if (!live || !persistent) return Invalid(what + ": " + (live ? persistent : live).error().message);
    virTypedParameterPtr params = nullptr;
    int n = 0, max = 0;
    bool ok = virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_DEST_XML, live->c_str()) == 0 &&
              virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_PERSIST_XML, persistent->c_str()) == 0;
    if (ok && !r.migration_uri.empty()) ok = virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI, r.migration_uri.c_str()) == 0;
    if (!ok) {
      virTypedParamsFree(params, n);
      return Internal(what + ": cannot build its parameters: " + LastError());
    }
    // Managed direct migration: this process drives both libvirtds; QEMU streams to QEMU.
    const unsigned flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE;
    DomainPtr moved(virDomainMigrate3(dom.get(), dest->conn_, params, n, flags));
    virTypedParamsFree(params, n);
    if (!moved) return Unavailable(what + " failed (it still runs on the source): " + LastError());
    return Status::Ok();
  }

  Status AbortMigration(const std::string& name) override {
    DomainPtr dom(virDomainLookupByName(conn_, name.c_str()));
    if (!dom) return NotFound("VM '" + name + "': no such domain on " + uri_ + ": " + LastError());
    if (virDomainAbortJob(dom.get()) < 0) {
      if (virGetLastErrorCode() == VIR_ERR_OPERATION_INVALID) return Conflict("VM '" + name + "' has no migration running on " + uri_);
      return Unavailable("VM '" + name + "': cannot abort its migration on " + uri_ + ": " + LastError());
    }
    return Status::Ok();
  }

 private:
  std::string Where() const { return "hypervisor " + uri_ + ": "; }

  // Bytes of a cpumap covering every host CPU; -1 on failure (libvirt's error is set).
  int MapLength() {
    int host_cpus = virNodeGetCPUMap(conn_, nullptr, nullptr, 0);
    if (host_cpus < 0) return -1;
    // The test driver's CPU map is shorter than its node info (8 vs 16 CPUs): take the larger.
    virNodeInfo node;
    if (virNodeGetInfo(conn_, &node) == 0) host_cpus = std::max(host_cpus, static_cast<int>(node.cpus));
    return VIR_CPU_MAPLEN(host_cpus);
  }

  // Hard stop if running, then undefine. Tolerates the domain vanishing half-way.
  Status Remove(virDomainPtr dom) {
    if (virDomainIsActive(dom) == 1 && virDomainDestroy(dom) < 0) {
      int code = virGetLastErrorCode();
      if (code != VIR_ERR_OPERATION_INVALID && code != VIR_ERR_NO_DOMAIN)
        return Unavailable("cannot destroy it on " + uri_ + ": " + LastError());
    }
    if (virDomainUndefineFlags(dom, kUndefineFlags) < 0 && virGetLastErrorCode() != VIR_ERR_NO_DOMAIN)
      return Unavailable("cannot undefine it on " + uri_ + ": " + LastError());
    return Status::Ok();
  }

  // Name, state, corepin metadata and libvirt's pinning for one domain.
  Result<DomainInfo> Info(virDomainPtr dom) {
    DomainInfo info;
    info.name = virDomainGetName(dom);
    auto fail = [&](const std::string& what) -> Error {
      std::string msg = "VM '" + info.name + "': cannot read " + what + " on " + uri_ + ": " + LastError();
      return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ? NotFound(msg) : Unavailable(msg);
    };
    int active = virDomainIsActive(dom);
    if (active < 0) return fail("its state");
    info.active = active == 1;

    char* meta = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, kCorepinMetadataUri, 0);
    if (meta) {
      info.metadata_json = MetadataJsonFromElement(Take(meta));
    } else if (virGetLastErrorCode() != VIR_ERR_NO_DOMAIN_METADATA) {
      return fail("its metadata");
    }

    // Live pinning for a running domain, the persistent definition otherwise. A domain that
    // stops between the two reads (libvirt: "domain is not running") is read as stopped.
    std::string what;
    if (!ReadPins(dom, info.active ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG, &info, &what)) {
      if (!info.active || virGetLastErrorCode() != VIR_ERR_OPERATION_INVALID) return fail(what);
      info.active = false;
      if (!ReadPins(dom, VIR_DOMAIN_AFFECT_CONFIG, &info, &what)) return fail(what);
    }
    if (!ReadMemoryNodes(dom, info.active ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG, &info)) return fail("its NUMA memory nodes");
    return info;
  }

  // The nodeset of the domain's <numatune> (live or persistent, by `flags`) into
  // info->memory_nodes: where libvirt keeps its memory. False on failure (libvirt's error is set).
  bool ReadMemoryNodes(virDomainPtr dom, unsigned flags, DomainInfo* info) {
    virTypedParameter params[8];
    int n = 8;
    if (virDomainGetNumaParameters(dom, params, &n, flags) < 0) return false;
    const char* nodeset = nullptr;
    (void)virTypedParamsGetString(params, n, VIR_DOMAIN_NUMA_NODESET, &nodeset);
    auto nodes = CpuSet::Parse(nodeset ? nodeset : "");
    virTypedParamsClear(params, n);
    info->memory_nodes = nodes ? *nodes : CpuSet{};
    return true;
  }

  // libvirt's vCPU and emulator pinning of `dom` (live or persistent, by `flags`) into *info;
  // false with *what naming the read that failed (libvirt's error is set).
  bool ReadPins(virDomainPtr dom, unsigned flags, DomainInfo* info, std::string* what) {
    info->vcpu_pins.clear();
    int nvcpus = virDomainGetVcpusFlags(dom, flags | VIR_DOMAIN_VCPU_MAXIMUM);
    if (nvcpus < 0) return *what = "its vCPU count", false;
    const int maplen = MapLength();
    if (maplen < 0) return *what = "the host CPU count", false;
    std::vector<unsigned char> maps(static_cast<size_t>(nvcpus) * maplen);
    int n = virDomainGetVcpuPinInfo(dom, nvcpus, maps.data(), maplen, flags);
    if (n < 0) return *what = "its vCPU pinning", false;
    for (int i = 0; i < n; ++i) info->vcpu_pins.push_back(FromCpumap(VIR_GET_CPUMAP(maps.data(), maplen, i), maplen));
    std::vector<unsigned char> emu(maplen);
    if (virDomainGetEmulatorPinInfo(dom, emu.data(), maplen, flags) < 0) return *what = "its emulator pinning", false;
    info->emulator_pin = FromCpumap(emu.data(), maplen);
    return true;
  }

  std::string uri_;
  virConnectPtr conn_;
};


}  // namespace

Result<std::unique_ptr<Hypervisor>> ConnectHypervisor(const std::string& uri) {
  if (IsFixtureUri(uri)) return ConnectFixtureHypervisor(uri);
  InitLibvirtOnce();
  virConnectPtr conn = virConnectOpen(uri.c_str());
  if (!conn) return Unprocessable("cannot connect to hypervisor " + uri + ": " + LastError());
  // Ping every second, give up after 3 unanswered: a call to a frozen or dead host fails
  // within ~4 s instead of hanging (the host monitor suspects it sooner, in its own thread).
  // In-process drivers (test:///) have no keepalive and need none.
  if (virConnectSetKeepAlive(conn, 1, 3) < 0 && virGetLastErrorCode() != VIR_ERR_NO_SUPPORT) {
    std::string msg = "hypervisor " + uri + ": cannot enable keepalive: " + LastError();
    virConnectClose(conn);
    return Unprocessable(msg);
  }
  return std::unique_ptr<Hypervisor>(std::make_unique<LibvirtHypervisor>(uri, conn));
}

}  // namespace corepin
