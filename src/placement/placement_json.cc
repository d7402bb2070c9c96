#include "placement/placement_json.h"

namespace corepin {

using nlohmann::json;

namespace {

const std::set<std::string> kSpecFields = {"name", "vcpus", "policy", "vcpu_policies", "smt", "emulator", "numa",
                                           "nic", "physnet", "memory_mib", "page_size", "image", "interfaces"};
const std::set<std::string> kImageFields = {"kernel", "initrd", "cmdline"};
const std::set<std::string> kInterfaceFields = {"name", "mac"};

std::string TypeName(const json& v) { return v.type_name(); }

// `where` prefixes the field in messages ("image." -> "image.kernel: ...").
Status WantString(const json& j, const char* key, std::string* out, const std::string& where = "") {
  if (!j.contains(key)) return Status::Ok();
  if (!j[key].is_string()) return Invalid(where + key + ": must be a string, got " + TypeName(j[key]));
  *out = j[key].get<std::string>();
  return Status::Ok();
}

std::string Join(const std::set<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) out += (out.empty() ? "" : ", ") + f;
  return out;
}

Status RefuseUnknown(const json& j, const std::set<std::string>& known, const std::string& what) {
  for (const auto& [k, v] : j.items())
    if (!known.count(k)) return Invalid(what + ": unknown field \"" + k + "\"; its fields are " + Join(known));
  return Status::Ok();
}

Result<VmImage> ImageFromJson(const json& j) {
  if (!j.is_object())
    return Invalid("image: must be an object {\"kernel\": PATH, \"initrd\": PATH, \"cmdline\": TEXT}, got " + TypeName(j));
  if (auto st = RefuseUnknown(j, kImageFields, "image"); !st) return st.error();
  VmImage img;
  if (!j.contains("kernel")) return Invalid("image.kernel: missing; give the kernel's absolute path on the host");
  for (auto [key, field] : {std::pair{"kernel", &img.kernel}, {"initrd", &img.initrd}, {"cmdline", &img.cmdline}})
    if (auto st = WantString(j, key, field, "image."); !st) return st.error();
  return img;
}

Result<VmInterface> InterfaceFromJson(const json& j, const std::string& at) {
  if (!j.is_object()) return Invalid(at + ": must be an object {\"name\": NAME, \"mac\": MAC}, got " + TypeName(j));
  if (auto st = RefuseUnknown(j, kInterfaceFields, at); !st) return st.error();
  VmInterface itf;
  if (!j.contains("name")) return Invalid(at + ".name: missing; every interface needs a name, e.g. \"svc\"");
  if (auto st = WantString(j, "name", &itf.name, at + "."); !st) return st.error();
  if (auto st = WantString(j, "mac", &itf.mac, at + "."); !st) return st.error();
  if (j.contains("mac")) {
    if (itf.mac.empty()) return Invalid(at + ".mac: empty; leave the field out to let the hypervisor pick a MAC");
    if (std::string norm = NormalizeMac(itf.mac); !norm.empty()) itf.mac = norm;  // else ValidateSpec names it
  }
  return itf;
}

}  // namespace

Result<VmSpec> VmSpecFromJson(const json& given, const std::set<std::string>& extra) {
  if (!given.is_object()) return Invalid("VM spec must be a JSON object, got " + TypeName(given));
  // A field given as null (YAML's ~) is as if absent: its default, or "missing" when required.
  json j = given;
  for (auto it = j.begin(); it != j.end();) it = it->is_null() ? j.erase(it) : std::next(it);
  for (const auto& [k, v] : j.items())
    if (!kSpecFields.count(k) && !extra.count(k))
      return Invalid("unknown field \"" + k + "\"; VM spec fields are name, vcpus, policy, vcpu_policies, smt, emulator, numa, nic, physnet, memory_mib, page_size, image, interfaces");
  VmSpec s;
  if (!j.contains("name")) return Invalid("name: missing; every VM needs a name");
  if (auto st = WantString(j, "name", &s.name); !st) return st.error();
  if (!j.contains("vcpus")) return Invalid("vcpus: missing; give the number of vCPUs, e.g. \"vcpus\": 2");
  const json& n = j["vcpus"];
  if (!n.is_number_integer()) return Invalid("vcpus: must be an integer, got " + TypeName(n));
  const int64_t count = n.get<int64_t>();
  if (count < 1 || count > VmSpec::kMaxVcpus)
    return Invalid("vcpus: " + std::to_string(count) + " is out of range; a VM has 1.." + std::to_string(VmSpec::kMaxVcpus) + " vCPUs");
  std::string policy = "dedicated";
  if (auto st = WantString(j, "policy", &policy); !st) return st.error();
  auto base = VcpuPolicy::Parse(policy);
  if (!base) return Invalid("policy: " + base.error().message);
  s.vcpus.assign(static_cast<size_t>(count), *base);
  if (j.contains("vcpu_policies")) {
    const json& list = j["vcpu_policies"];
    if (!list.is_array()) return Invalid("vcpu_policies: must be a list of policies, one per vCPU, got " + TypeName(list));
    if (static_cast<int64_t>(list.size()) != count)
      return Invalid("vcpu_policies: has " + std::to_string(list.size()) + " entries for " + std::to_string(count) + " vCPUs; give one per vCPU");
    for (size_t i = 0; i < list.size(); ++i) {
      if (!list[i].is_string()) return Invalid("vcpu_policies[" + std::to_string(i) + "]: must be a string");
      auto p = VcpuPolicy::Parse(list[i].get<std::string>());
      if (!p) return Invalid("vcpu_policies[" + std::to_string(i) + "]: " + p.error().message);
      s.vcpus[i] = *p;
    }
  }
  std::string text;
  if (j.contains("smt")) {
    if (auto st = WantString(j, "smt", &text); !st) return st.error();
    auto p = ParseSmtPolicy(text);
    if (!p) return Invalid("smt: " + p.error().message);
    s.smt = *p;
  }
  if (j.contains("emulator")) {
    if (auto st = WantString(j, "emulator", &text); !st) return st.error();
    auto p = EmulatorPolicy::Parse(text);
    if (!p) return Invalid("emulator: " + p.error().message);
    s.emulator = *p;
  }
  if (j.contains("numa")) {
    if (auto st = WantString(j, "numa", &text); !st) return st.error();
    auto p = ParseNumaPolicy(text);
    if (!p) return Invalid("numa: " + p.error().message);
    s.numa = *p;
  }
  if (auto st = WantString(j, "nic", &s.nic); !st) return st.error();
  if (auto st = WantString(j, "physnet", &s.physnet); !st) return st.error();
  if (!j.contains("memory_mib")) return Invalid("memory_mib: missing; give the VM's memory in MiB, e.g. \"memory_mib\": 1024");
  if (!j["memory_mib"].is_number_integer() || j["memory_mib"].get<int64_t>() < 1)
    return Invalid("memory_mib: must be a positive integer (MiB), got " + j["memory_mib"].dump());
  s.memory_mib = j["memory_mib"].get<uint64_t>();
  if (j.contains("page_size")) {
    if (auto st = WantString(j, "page_size", &text); !st) return st.error();
    auto p = ParsePageSize(text);
    if (!p) return Invalid("page_size: " + p.error().message);
    s.page_kib = *p;
  }
  if (j.contains("image")) {
    auto img = ImageFromJson(j["image"]);
    if (!img) return img.error();
    s.image = std::move(*img);
  }
  if (j.contains("interfaces")) {
    const json& list = j["interfaces"];
    if (!list.is_array()) return Invalid("interfaces: must be a list of {\"name\": NAME, \"mac\": MAC}, got " + TypeName(list));
    if (list.size() > static_cast<size_t>(VmSpec::kMaxInterfaces))
      return Invalid("interfaces: " + std::to_string(list.size()) + " interfaces; a VM has at most " + std::to_string(VmSpec::kMaxInterfaces));
    for (size_t i = 0; i < list.size(); ++i) {
      auto itf = InterfaceFromJson(list[i], "interfaces[" + std::to_string(i) + "]");
      if (!itf) return itf.error();
      s.interfaces.push_back(std::move(*itf));
    }
  }
  if (auto st = ValidateSpec(s); !st) return st.error();
  return s;
}

json VmSpecToJson(const VmSpec& s) {
  json pol = json::array();
  for (const auto& v : s.vcpus) pol.push_back(v.ToString());
  json j = {{"name", s.name},
            {"vcpus", s.vcpus.size()},
            {"vcpu_policies", pol},
            {"smt", ToString(s.smt)},
            {"emulator", s.emulator.ToString()},
            {"numa", ToString(s.numa)},
            {"memory_mib", s.memory_mib},
            {"page_size", PageSizeToString(s.page_kib)}};
  if (!s.nic.empty()) j["nic"] = s.nic;
  if (!s.physnet.empty()) j["physnet"] = s.physnet;
  if (s.image) {
    json img = {{"kernel", s.image->kernel}};
    if (!s.image->initrd.empty()) img["initrd"] = s.image->initrd;
    if (!s.image->cmdline.empty()) img["cmdline"] = s.image->cmdline;
    j["image"] = img;
  }
  if (!s.interfaces.empty()) {
    json list = json::array();
    for (const auto& itf : s.interfaces) {
      json x = {{"name", itf.name}};
      if (!itf.mac.empty()) x["mac"] = itf.mac;
      list.push_back(x);
    }
    j["interfaces"] = list;
  }
  return j;
}

json AssignmentToJson(const Assignment& a) {
  json mem = json::object();
  for (auto [n, mib] : a.memory_mib) mem[std::to_string(n)] = mib;
  return {{"host", a.host},
          {"vcpu_pcpus", a.vcpu_pcpus},
          {"emulator", a.emulator.ToString()},
          {"exclusive", a.exclusive.ToString()},
          {"reserved_siblings", a.reserved_siblings.ToString()},
          {"groups", a.groups},
          {"memory_mib", mem},
          {"page_size", PageSizeToString(a.page_kib)}};
}

Result<Assignment> AssignmentFromJson(const json& j) {
  try {
    Assignment a;
    a.host = j.at("host").get<std::string>();
    a.vcpu_pcpus = j.at("vcpu_pcpus").get<std::vector<int>>();
    for (auto [key, field] : {std::pair{"emulator", &a.emulator}, {"exclusive", &a.exclusive}, {"reserved_siblings", &a.reserved_siblings}}) {
      auto set = CpuSet::Parse(j.at(key).get<std::string>());
      if (!set) return Invalid(std::string("assignment ") + key + ": " + set.error().message);
      *field = *set;
    }
    a.groups = j.at("groups").get<std::map<std::string, int>>();
    for (const auto& [n, mib] : j.at("memory_mib").items()) a.memory_mib[std::stoi(n)] = mib.get<uint64_t>();
    auto page = ParsePageSize(j.at("page_size").get<std::string>());
    if (!page) return page.error();
    a.page_kib = *page;
    return a;
  } catch (const std::exception& e) {
    return Invalid(std::string("assignment JSON is malformed: ") + e.what());
  }
}

json RejectionToJson(const Rejection& r) {
  json nodes = json::array();
  for (const auto& n : r.nodes) nodes.push_back({{"node", n.node}, {"reason", n.reason}});
  return {{"host", r.host}, {"reasons", r.reasons}, {"nodes", nodes}};
}

}  // namespace corepin
