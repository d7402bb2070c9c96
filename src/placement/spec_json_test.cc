#include <gtest/gtest.h>

#include "placement/cluster_json.h"
#include "placement/placement_json.h"

namespace corepin {
namespace {

using nlohmann::json;

TEST(SpecJson, RoundTrip) {
  auto s = VmSpecFromJson(json::parse(R"({"name":"fw1","vcpus":3,"vcpu_policies":["dedicated","group:ctl","pinned:7"],
      "smt":"isolate","emulator":"group:ctl","numa":"spread","nic":"ens2","memory_mib":2048,"page_size":"2M"})"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->vcpus[1].group, "ctl");
  EXPECT_EQ(s->vcpus[2].pcpu, 7);
  EXPECT_EQ(s->page_kib, 2048u);
  auto again = VmSpecFromJson(VmSpecToJson(*s));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(VmSpecToJson(*again), VmSpecToJson(*s));
}

TEST(SpecJson, EveryBadFieldIsNamed) {
  struct Case { const char* json; const char* expect; };
  for (auto c : std::vector<Case>{
           {R"([1])", "must be a JSON object"},
           {R"({"vcpus":1,"memory_mib":64})", "name: missing"},
           {R"({"name":"a b","vcpus":1,"memory_mib":64})", "name: \"a b\""},
           {R"({"name":"a","memory_mib":64})", "vcpus: missing"},
           {R"({"name":"a","vcpus":0,"memory_mib":64})", "vcpus: 0 is out of range"},
           {R"({"name":"a","vcpus":300,"memory_mib":64})", "vcpus: 300 is out of range"},
           {R"({"name":"a","vcpus":"2","memory_mib":64})", "vcpus: must be an integer"},
           {R"({"name":"a","vcpus":1,"memory_mib":64,"cpus":2})", "unknown field \"cpus\""},
           {R"({"name":"a","vcpus":1,"policy":"shared","memory_mib":64})", "policy: \"shared\" is not a vCPU policy"},
           {R"({"name":"a","vcpus":2,"vcpu_policies":["dedicated"],"memory_mib":64})", "vcpu_policies: has 1 entries for 2 vCPUs"},
           {R"({"name":"a","vcpus":2,"vcpu_policies":["pinned:3","pinned:3"],"memory_mib":64})", "pinned:3 is already vCPU 0's pCPU"},
           {R"({"name":"a","vcpus":1,"vcpu_policies":["pinned:x"],"memory_mib":64})", "vcpu_policies[0]: \"pinned:x\""},
           {R"({"name":"a","vcpus":1,"smt":"always","memory_mib":64})", "smt: \"always\""},
           {R"({"name":"a","vcpus":1,"emulator":"pinned:3","memory_mib":64})", "emulator: \"pinned:3\""},
           {R"({"name":"a","vcpus":1,"numa":"any","memory_mib":64})", "numa: \"any\""},
           {R"({"name":"a","vcpus":1})", "memory_mib: missing"},
           {R"({"name":"a","vcpus":1,"memory_mib":-5})", "memory_mib: must be a positive integer"},
           {R"({"name":"a","vcpus":1,"memory_mib":1000,"page_size":"1G"})", "not a multiple of the 1G page size"},
           {R"({"name":"a","vcpus":1,"memory_mib":64,"page_size":"64K"})", "page_size: \"64K\""},
           {R"({"name":"a","vcpus":1,"memory_mib":64,"nic":"ens2","physnet":"x"})", "nic and physnet"},
       }) {
    auto s = VmSpecFromJson(json::parse(c.json));
    ASSERT_FALSE(s.ok()) << c.json;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalid);
    EXPECT_NE(s.error().message.find(c.expect), std::string::npos) << c.json << " -> " << s.error().message;
  }
}

// The lab guest's spec (see docs/vm-spec.md): an image to boot and one NIC.
constexpr const char* kGuest = R"({"name":"vm1","vcpus":1,"memory_mib":128,
    "image":{"kernel":"/var/lib/corepin/guest/vmlinux","initrd":"/var/lib/corepin/guest/initrd.img",
             "cmdline":"console=ttyS0 quiet panic=-1 corepin.name={name} corepin.role={role} corepin.addr=198.18.0.10/24"},
    "interfaces":[{"name":"svc","mac":"52:54:00:AB:cd:01"},{"name":"mgmt"}]})";

TEST(SpecJson, ImageAndInterfacesRoundTrip) {
  auto s = VmSpecFromJson(json::parse(kGuest));
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_TRUE(s->image.has_value());
  EXPECT_EQ(s->image->kernel, "/var/lib/corepin/guest/vmlinux");
  EXPECT_EQ(s->image->initrd, "/var/lib/corepin/guest/initrd.img");
  EXPECT_NE(s->image->cmdline.find("corepin.role={role}"), std::string::npos);
  ASSERT_EQ(s->interfaces.size(), 2u);
  EXPECT_EQ(s->interfaces[0], (VmInterface{"svc", "52:54:00:ab:cd:01"}));  // stored in lower case
  EXPECT_EQ(s->interfaces[1], (VmInterface{"mgmt", ""}));
  const json out = VmSpecToJson(*s);
  EXPECT_EQ(out["interfaces"][0]["mac"], "52:54:00:ab:cd:01");
  EXPECT_FALSE(out["interfaces"][1].contains("mac"));
  auto again = VmSpecFromJson(out);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->image, s->image);
  EXPECT_EQ(again->interfaces, s->interfaces);
  EXPECT_EQ(VmSpecToJson(*again), out);

  // Only the kernel is required; a spec without image or interfaces has neither in its JSON.
  auto bare = VmSpecFromJson(json::parse(R"({"name":"a","vcpus":1,"memory_mib":64,"image":{"kernel":"/k"}})"));
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_EQ(VmSpecToJson(*bare)["image"], json::parse(R"({"kernel":"/k"})"));
  EXPECT_FALSE(VmSpecToJson(*bare).contains("interfaces"));
  auto none = VmSpecFromJson(json::parse(R"({"name":"a","vcpus":1,"memory_mib":64,"interfaces":[]})"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->image.has_value());
  EXPECT_FALSE(VmSpecToJson(*none).contains("image"));
  EXPECT_FALSE(VmSpecToJson(*none).contains("interfaces"));
}

TEST(SpecJson, EightInterfacesAndTheLongestCmdlineFit) {
  json j = json::parse(R"({"name":"a","vcpus":1,"memory_mib":64,"image":{"kernel":"/k"},"interfaces":[]})");
  for (int i = 0; i < 8; ++i) j["interfaces"].push_back({{"name", "if" + std::to_string(i)}});
  // 2047 characters once {name} ("a") and a 3-letter {role} are filled in.
  j["image"]["cmdline"] = "{name} {role}" + std::string(2047 - 5, 'x');
  auto s = VmSpecFromJson(j);
  ASSERT_TRUE(s.ok()) << s.error().message;
  j["image"]["cmdline"] = "{name} {role}" + std::string(2047 - 4, 'x');
  s = VmSpecFromJson(j);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("image.cmdline: 2048 characters once {name} and {role} are filled in"), std::string::npos)
      << s.error().message;
}

TEST(SpecJson, ExpandCmdline) {
  EXPECT_EQ(ExpandCmdline("n={name} r={role} n2={name}", "vm1", "SBY"), "n=vm1 r=SBY n2=vm1");
  EXPECT_EQ(ExpandCmdline("corepin.role={role} x", "vm1", ""), "corepin.role= x");
  EXPECT_EQ(ExpandCmdline("", "vm1", "ACT"), "");
  EXPECT_EQ(ExpandCmdline("{nam {role", "v", "ACT"), "{nam {role");  // not placeholders: kept
}

TEST(SpecJson, EveryBadImageOrInterfaceIsNamed) {
  struct Case { std::string extra; const char* expect; };
  std::string nine;
  for (int i = 0; i < 9; ++i) nine += std::string(i ? "," : "") + R"({"name":"i)" + std::to_string(i) + R"("})";
  nine = "[" + nine + "]";
  for (const auto& c : std::vector<Case>{
           {R"("image":"/boot/vmlinux")", "image: must be an object"},
           {R"("image":{"initrd":"/i"})", "image.kernel: missing"},
           {R"("image":{"kernel":"/k","root":"/dev/vda"})", "image: unknown field \"root\"; its fields are cmdline, initrd, kernel"},
           {R"("image":{"kernel":7})", "image.kernel: must be a string, got number"},
           {R"("image":{"kernel":"/k","cmdline":["a"]})", "image.cmdline: must be a string, got array"},
           {R"("image":{"kernel":""})", "image.kernel: \"\" is empty"},
           {R"("image":{"kernel":"vmlinux"})", "image.kernel: \"vmlinux\" is not an absolute path"},
           {R"("image":{"kernel":"/boot/../etc/k"})", "image.kernel: \"/boot/../etc/k\" holds a \"..\" component"},
           {R"("image":{"kernel":"/boot/"})", "image.kernel: \"/boot/\" names a directory"},
           {R"("image":{"kernel":"/boot/k\nx"})", "image.kernel: \"/boot/k\nx\" holds a control character"},
           {R"("image":{"kernel":"/k","initrd":"initrd.img"})", "image.initrd: \"initrd.img\" is not an absolute path"},
           {R"("image":{"kernel":"/k","cmdline":"a=b\nc"})", "image.cmdline: holds a control character at offset 3"},
           {R"("image":{"kernel":"/k","cmdline":"x={host}"})", "image.cmdline: \"{host}\" at offset 2 is not a placeholder; use {name} or {role}"},
           {R"("image":{"kernel":"/k","cmdline":"x={name"})", "image.cmdline: \"{name\" at offset 2 is not a placeholder"},
           {R"("image":{"kernel":"/k","cmdline":"x={Name}"})", "image.cmdline: \"{Name}\" at offset 2"},
           {R"("image":{"kernel":"/k","cmdline":"x=a}"})", "image.cmdline: '}' at offset 3 closes no placeholder"},
           {R"("image":{"kernel":"/k","cmdline":")" + std::string(2048, 'x') + R"("})", "image.cmdline: 2048 characters"},
           {R"("interfaces":{"name":"svc"})", "interfaces: must be a list"},
           {R"("interfaces":["svc"])", "interfaces[0]: must be an object"},
           {R"("interfaces":[{"name":"svc","vlan":5}])", "interfaces[0]: unknown field \"vlan\"; its fields are mac, name"},
           {R"("interfaces":[{"mac":"52:54:00:00:00:01"}])", "interfaces[0].name: missing"},
           {R"("interfaces":[{"name":1}])", "interfaces[0].name: must be a string, got number"},
           {R"("interfaces":[{"name":""}])", "interfaces[0].name: \"\" is not an interface name; use 1-8 of [a-z0-9]"},
           {R"("interfaces":[{"name":"Svc"}])", "interfaces[0].name: \"Svc\" is not an interface name"},
           {R"("interfaces":[{"name":"svc-a"}])", "interfaces[0].name: \"svc-a\" is not an interface name"},
           {R"("interfaces":[{"name":"service01"}])", "interfaces[0].name: \"service01\" is not an interface name"},
           {R"("interfaces":[{"name":"svc"},{"name":"svc"}])", "interfaces[1].name: \"svc\" is already interfaces[0]'s name"},
           {R"("interfaces":)" + nine, "interfaces: 9 interfaces; a VM has at most 8"},
           {R"("interfaces":[{"name":"svc","mac":5}])", "interfaces[0].mac: must be a string, got number"},
           {R"("interfaces":[{"name":"svc","mac":""}])", "interfaces[0].mac: empty"},
           {R"("interfaces":[{"name":"svc","mac":"52:54:00:12:34"}])", "interfaces[0].mac: \"52:54:00:12:34\" is not a MAC address"},
           {R"("interfaces":[{"name":"svc","mac":"52-54-00-12-34-56"}])", "interfaces[0].mac: \"52-54-00-12-34-56\" is not a MAC"},
           {R"("interfaces":[{"name":"svc","mac":"52:54:00:12:34:5g"}])", "is not a MAC address"},
           {R"("interfaces":[{"name":"svc","mac":"01:00:5e:00:00:01"}])", "interfaces[0].mac: \"01:00:5e:00:00:01\" is a multicast address"},
           {R"("interfaces":[{"name":"svc","mac":"ff:ff:ff:ff:ff:ff"}])", "is a multicast address"},
           {R"("interfaces":[{"name":"svc","mac":"00:00:00:00:00:00"}])", "interfaces[0].mac: \"00:00:00:00:00:00\" is all zeros"},
       }) {
    const std::string text = R"({"name":"a","vcpus":1,"memory_mib":64,)" + c.extra + "}";
    auto s = VmSpecFromJson(json::parse(text));
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalid);
    EXPECT_NE(s.error().message.find(c.expect), std::string::npos) << text << " -> " << s.error().message;
  }
}

TEST(SpecJson, ValidateSpecChecksImageAndInterfacesBuiltInCode) {
  VmSpec s;
  s.name = "a";
  s.vcpus.resize(1);
  s.memory_mib = 64;
  s.image = VmImage{"/k", "", "{role}"};
  s.interfaces = {{"svc", "52:54:00:12:34:56"}, {"data", "52:54:00:12:34:56"}};  // a shared MAC is fine
  EXPECT_TRUE(ValidateSpec(s).ok());
  s.interfaces.push_back({"x", "bad"});
  auto st = ValidateSpec(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("interfaces[2].mac: \"bad\" is not a MAC address"), std::string::npos) << st.error().message;
  s.interfaces.pop_back();
  s.image->kernel = "relative";
  EXPECT_FALSE(ValidateSpec(s).ok());
}

// Issue 24: YAML's ~ (null) is as if the field were absent, as docs/vm-spec.md says.
TEST(SpecJson, NullIsTheDefault) {
  auto s = VmSpecFromJson(json::parse(R"({"name":"fw1","vcpus":2,"memory_mib":512,"nic":null,"smt":null,"image":null})"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->nic, "");
  EXPECT_EQ(s->smt, SmtPolicy::kPrefer);
  EXPECT_EQ(VmSpecToJson(*s), VmSpecToJson(*VmSpecFromJson(json::parse(R"({"name":"fw1","vcpus":2,"memory_mib":512})"))));
  auto missing = VmSpecFromJson(json::parse(R"({"name":"fw1","vcpus":null,"memory_mib":512})"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("vcpus: missing"), std::string::npos) << missing.error().message;
}

// Issue 24: a healing target's pcpus are its vCPUs' pCPUs, as in every other view; the siblings
// it keeps empty and all the reserve holds for it are named apart.
TEST(HealTargetJson, PcpusAreTheVcpusAndHeldEmptyIsApart) {
  HealTarget t;
  t.vm = "fw-act1";
  t.from = "h1";
  t.host = "h2";
  t.assignment.host = "h2";
  t.assignment.vcpu_pcpus = {1, 2};
  t.assignment.exclusive = {1, 2};
  t.assignment.reserved_siblings = {65, 66};
  t.assignment.emulator = {0, 64};
  t.pcpus = {1, 2, 65, 66};
  const json j = HealTargetToJson(t);
  EXPECT_EQ(j["pcpus"], "1-2");
  EXPECT_EQ(j["held_empty"], "65-66");
  EXPECT_EQ(j["reserved_pcpus"], "1-2,65-66");
}

TEST(SpecJson, ExtraFieldsAllowedWhenDeclared) {
  auto s = VmSpecFromJson(json::parse(R"({"name":"a","host":"h1","vcpus":1,"memory_mib":64})"), {"host"});
  EXPECT_TRUE(s.ok());
}

TEST(AssignmentJson, RoundTrip) {
  Assignment a;
  a.host = "h1";
  a.vcpu_pcpus = {3, 4, 5};
  a.emulator = CpuSet{0, 64};
  a.exclusive = CpuSet{3, 4};
  a.reserved_siblings = CpuSet{67};
  a.groups = {{"ctl", 5}};
  a.memory_mib = {{0, 512}, {1, 512}};
  a.page_kib = 2048;
  auto b = AssignmentFromJson(AssignmentToJson(a));
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(*b, a);
  EXPECT_FALSE(AssignmentFromJson(json::parse(R"({"host":"h"})")).ok());
}

}  // namespace
}  // namespace corepin
