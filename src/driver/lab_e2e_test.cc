// End to end in the lab (lab/README.md): a real lab host (its own libvirtd), real Open vSwitch,
// the real lab guest. Brings the lab up with one host, builds the guest, starts a VM through
// the Hypervisor interface with an image (direct kernel boot, {name} and {role} in its cmdline)
// and one NIC on h1's bridge, and checks that
//   - a client on the top-of-rack bridge gets the guest's UDP answer "NAME ROLE",
//   - the NIC's tap is PortName(vm, "h1", "svc"), a port of h1's bridge, with the spec's MAC,
//   - the kernel enforces the pinning on the QEMU threads (/proc, via the host's run dir),
//   - destroying the VM removes its QEMU and its port.
// The VM is destroyed and the lab taken down at the end, pass or fail (also on SIGINT/SIGTERM).
//
// Needs root and lab/packages.txt. Skips unless COREPIN_LAB=1; with COREPIN_LAB=1 a lab that
// cannot come up is a failure. A lab that is already up (someone else's) is a failure too, and
// is left alone. COREPIN_LAB_DIR is honoured (passed through to lab/lab).
//
//   COREPIN_LAB=1 ctest -L lab --output-on-failure
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "driver/domain_xml.h"
#include "driver/hypervisor.h"
#include "driver/proc_affinity.h"
#include "placement/placement_json.h"

namespace corepin {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kSource = COREPIN_SOURCE_DIR;
const std::string kLab = kSource + "/lab/lab";
const std::string kGuestDir = std::string(COREPIN_BINARY_DIR) + "/lab-guest";

constexpr const char* kVm = "corepin-lab-vm1";
constexpr const char* kClient = "cpe2e";  // netns lab-cpe2e, ToR port lc-cpe2e
constexpr const char* kGuestAddr = "198.18.0.10";
constexpr const char* kMac = "52:54:00:c0:7e:01";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

struct Output {
  int code = -1;
  std::string text;  // stdout and stderr
};

// Runs a shell command; stdout and stderr together.
Output Sh(const std::string& cmd) {
  Output out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.text.append(buf.data(), n);
  int st = pclose(p);
  out.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// --- taking the lab down, whatever happens ------------------------------------

char g_lab_path[4096];
volatile sig_atomic_t g_lab_ours = 0;

// SIGINT/SIGTERM/SIGHUP while the lab is ours: run `lab down` (fork, exec, wait and _exit are
// async-signal-safe), then die of the signal.
void OnSignal(int sig) {
  if (g_lab_ours) {
    pid_t pid = fork();
    if (pid == 0) {
      execl(g_lab_path, g_lab_path, "down", static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid > 0) waitpid(pid, nullptr, 0);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

bool LabIsUp() {
  auto out = Sh(Quote(kLab) + " status --json");
  auto j = json::parse(out.text, nullptr, false);
  return !j.is_discarded() && j.value("up", false);
}

class LabE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("COREPIN_LAB") != "1")
      GTEST_SKIP() << "the lab test needs root and brings the lab up; set COREPIN_LAB=1 to run it";
    if (geteuid() != 0) FAIL() << "COREPIN_LAB=1 but not root: the lab cannot come up";
    if (LabIsUp())
      FAIL() << "COREPIN_LAB=1 but a lab is already up (not this test's; left alone): take it down with "
             << kLab << " down when its user is done";

    std::snprintf(g_lab_path, sizeof g_lab_path, "%s", kLab.c_str());
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) signal(sig, OnSignal);
    const auto t0 = Clock::now();
    g_lab_ours = 1;  // from here on a half-up lab is ours to take down
    auto up = Sh(Quote(kLab) + " up 1");
    if (up.code != 0) {
      // Someone else's lab came up meanwhile: not ours to take down.
      if (up.text.find("already up") != std::string::npos || up.text.find("exists; run: lab down") != std::string::npos)
        g_lab_ours = 0;
      FAIL() << "COREPIN_LAB=1 but `lab up 1` failed:\n" << up.text;
    }
    std::cout << "[ lab      ] up in " << Ms(t0) << " ms\n";

    auto status = json::parse(Sh(Quote(kLab) + " status --json").text, nullptr, false);
    ASSERT_FALSE(status.is_discarded());
    ASSERT_EQ(status["hosts"].size(), 1u);
    const json& h1 = status["hosts"][0];
    uri_ = h1["uri"].get<std::string>();
    bridge_ = h1["bridge"].get<std::string>();
    anchor_ = h1["pids"]["anchor"].get<int>();
    ovsdb_ = status["ovsdb"].get<std::string>();
    state_dir_ = status["state_dir"].get<std::string>();
  }

  void TearDown() override {
    if (hv_) {
      auto s = hv_->DestroyAndUndefine(kVm);
      EXPECT_TRUE(s.ok()) << s.error().message;
      hv_.reset();
    }
    if (!g_lab_ours) return;
    if (HasFailure()) DumpGuestLogs();
    Sh(Quote(kLab) + " client del " + kClient);
    auto down = Sh(Quote(kLab) + " down");
    EXPECT_EQ(down.code, 0) << down.text;
    g_lab_ours = 0;
    EXPECT_FALSE(LabIsUp()) << "the lab is still up after `lab down`";
    EXPECT_EQ(access("/run/netns/corepin-lab", F_OK), -1) << "the lab's network namespace is left behind";
  }

  static long Ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
  }

  // The guest's console and QEMU log, while the lab (and its log dir) is still there.
  void DumpGuestLogs() {
    for (const char* ext : {".console", ".log"}) {
      const std::string path = state_dir_ + "/h1/log/qemu/" + kVm + ext;
      std::cout << "----- " << path << "\n" << ReadFile(path) << "\n";
    }
  }

  // Builds the lab guest into the build tree unless it is there and newer than its sources.
  std::string BuildGuest() {
    const std::string manifest = kGuestDir + "/manifest";
    auto fresh = Sh("test -f " + Quote(manifest) + " && test -f " + Quote(kGuestDir + "/initrd.img") +
                     " && ! find " + Quote(kSource + "/lab/guest") + " -newer " + Quote(manifest) + " | grep -q .");
    if (fresh.code != 0) {
      const auto t0 = Clock::now();
      auto b = Sh(Quote(kSource + "/lab/guest/build") + " " + Quote(kGuestDir));
      if (b.code != 0) return "lab/guest/build failed:\n" + b.text;
      std::cout << "[ guest    ] built in " << Ms(t0) << " ms\n";
    }
    return "";
  }

  // One UDP request from the client namespace; the answer, or "" after a short wait.
  static std::string Ask(const std::string& request, double wait_s = 0.2) {
    return Trim(Sh("ip netns exec lab-" + std::string(kClient) + " sh -c " +
                    Quote("echo " + request + " | socat -t " + std::to_string(wait_s) + " - UDP:" + kGuestAddr + ":7777"))
                    .text);
  }

  std::string Vsctl(const std::string& args) { return Trim(Sh("ovs-vsctl --timeout=10 --db=" + ovsdb_ + " " + args).text); }

  std::unique_ptr<Hypervisor> hv_;
  std::string uri_, bridge_, ovsdb_, state_dir_;
  int anchor_ = -1;
};

TEST_F(LabE2E, GuestBootsOnTheBridgeAnswersWithNameAndRoleAndIsPinned) {
  std::string err = BuildGuest();
  ASSERT_EQ(err, "");
  const std::string kernel =
      access((kGuestDir + "/vmlinux").c_str(), R_OK) == 0 ? kGuestDir + "/vmlinux" : kGuestDir + "/vmlinuz";

  auto h = ConnectHypervisor(uri_);
  ASSERT_TRUE(h.ok()) << h.error().message;
  hv_ = std::move(*h);
  auto topo = hv_->ReadTopology();
  ASSERT_TRUE(topo.ok()) << topo.error().message;
  ASSERT_NE(topo->FindPcpu(0), nullptr);
  ASSERT_NE(topo->FindPcpu(1), nullptr) << "the lab test pins the vCPU to pCPU 1, the emulator to pCPU 0";

  // The spec as an API client sends it.
  const json spec_json = {
      {"name", kVm},
      {"vcpus", 1},
      {"memory_mib", 128},
      {"image",
       {{"kernel", kernel},
        {"initrd", kGuestDir + "/initrd.img"},
        {"cmdline", "console=ttyS0 quiet panic=-1 corepin.name={name} corepin.role={role} corepin.addr=" +
                        std::string(kGuestAddr) + "/24 corepin.port=7777 corepin.garp_ms=1000"}}},
      {"interfaces", json::array({{{"name", "svc"}, {"mac", kMac}}})}};
  std::cout << "[ spec     ] " << spec_json.dump() << "\n";
  auto spec = VmSpecFromJson(spec_json);
  ASSERT_TRUE(spec.ok()) << spec.error().message;

  Assignment a;
  a.host = "h1";
  a.vcpu_pcpus = {1};
  a.emulator = {0};
  a.exclusive = {1};
  a.memory_mib = {{0, 128}};
  DomainHostOptions opts;
  opts.bridge = bridge_;
  opts.host = "h1";
  opts.virtualport_openvswitch = true;
  opts.disable_offload = true;
  opts.domain_type = "qemu";  // this machine's kvm_pvm cannot boot a Linux guest (lab/README.md)
  const std::string metadata = json{{"name", kVm}, {"test", "lab_e2e"}}.dump();

  auto client = Sh(Quote(kLab) + " client add " + kClient + " 198.18.0.1/24");
  ASSERT_EQ(client.code, 0) << client.text;

  const auto t0 = Clock::now();
  auto st = hv_->DefineAndStart({*spec, a, *topo, metadata, opts, "ACT"});
  ASSERT_TRUE(st.ok()) << st.error().message;
  const long define_ms = Ms(t0);

  // The guest answers "NAME ROLE" once booted: {name} and {role} were filled in.
  std::string answer;
  while (answer.empty() && Ms(t0) < 120'000) answer = Ask("hello");
  const long boot_ms = Ms(t0);
  EXPECT_EQ(answer, std::string(kVm) + " ACT") << "no (or a wrong) UDP answer from the guest after " << boot_ms << " ms";
  std::cout << "[ guest    ] DefineAndStart " << define_ms << " ms; first UDP answer \"" << answer << "\" " << boot_ms
            << " ms after DefineAndStart\n";
  EXPECT_EQ(Ask("seq:42", 1.0), std::string(kVm) + " ACT seq:42");

  // The NIC: tap PortName(vm, "h1", "svc"), a port of h1's bridge, with the spec's MAC.
  const std::string port = PortName(kVm, "h1", "svc");
  EXPECT_EQ(Vsctl("port-to-br " + port), bridge_) << "port " << port;
  EXPECT_EQ(Vsctl("get Interface " + port + " external_ids:attached-mac"), "\"" + std::string(kMac) + "\"");
  EXPECT_EQ(Trim(Sh("ip netns exec corepin-lab cat /sys/class/net/" + port + "/address").text), "fe:54:00:c0:7e:01")
      << "libvirt gives the host side of the tap the guest MAC with fe: in front";
  auto d = hv_->GetDomain(kVm);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_TRUE(d->active);
  EXPECT_EQ(d->metadata_json, metadata);

  // Pinning as the kernel enforces it, through the host's own /run.
  const std::string run_dir = "/proc/" + std::to_string(anchor_) + "/root/run/libvirt/qemu";
  auto pid = ReadQemuPid(run_dir, kVm);
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  auto aff = ReadProcAffinity(*pid);
  ASSERT_TRUE(aff.ok()) << aff.error().message;
  ASSERT_EQ(aff->vcpus.size(), 1u);
  EXPECT_EQ(aff->vcpus.at(0).ToString(), "1") << "vCPU 0";
  EXPECT_GE(aff->emulator_threads, 1);
  EXPECT_EQ(aff->emulator.ToString(), "0") << "emulator threads";
  const std::string cmdline = ReadFile("/proc/" + std::to_string(*pid) + "/cmdline");
  EXPECT_NE(cmdline.find("corepin.role=ACT"), std::string::npos) << "QEMU's -append";
  std::cout << "[ proc     ] QEMU pid " << *pid << " (via " << run_dir << "): vCPU 0 on " << aff->vcpus.at(0).ToString()
            << ", " << aff->emulator_threads << " emulator threads on " << aff->emulator.ToString() << "\n";

  // Destroyed: QEMU gone, the guest silent, the port gone from the bridge.
  ASSERT_TRUE(hv_->DestroyAndUndefine(kVm).ok());
  auto gone = hv_->GetDomain(kVm);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  for (int i = 0; i < 50 && access(("/proc/" + std::to_string(*pid)).c_str(), F_OK) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_NE(access(("/proc/" + std::to_string(*pid)).c_str(), F_OK), 0) << "QEMU " << *pid << " still runs";
  EXPECT_EQ(Ask("hello", 0.5), "");
  EXPECT_EQ(Vsctl("list-ports " + bridge_).find(port), std::string::npos);
}

}  // namespace
}  // namespace corepin
