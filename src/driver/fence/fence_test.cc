// The fence driver against real BMCs: each test starts its own ipmi_sim on a free loopback port
// (testing/test_bmc.h) and stops it at the end, also on failure. Needs openipmi and ipmitool.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "driver/fence/fence_driver.h"
#include "driver/fence/ipmi_fence.h"
#include "driver/fence/testing/test_bmc.h"

namespace corepin {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using testing::TestBmc;
using testing::TestBmcOptions;

milliseconds Since(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - t);
}

std::unique_ptr<TestBmc> StartBmc(const TestBmcOptions& o = {}) {
  auto b = TestBmc::Start(o);
  if (!b.ok()) {
    ADD_FAILURE() << b.error().message;
    return nullptr;
  }
  return std::move(*b);
}

std::unique_ptr<FenceDriver> Open(const std::string& uri) {
  auto d = OpenFenceDriver(uri);
  if (!d.ok()) {
    ADD_FAILURE() << d.error().message;
    return nullptr;
  }
  return std::move(*d);
}

// --- URIs -------------------------------------------------------------------------------------

TEST(FenceUri, ParsesDecodesAndRedacts) {
  auto t = ParseIpmiUri(
      "ipmi://ad%6Din:p%40ss%3Aw0rd@127.0.0.1:16231?cipher=17&timeout=0.5&privlvl=operator&poll_ms=50");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 16231);
  EXPECT_EQ(t->user, "admin");
  EXPECT_EQ(t->password, "p@ss:w0rd");
  EXPECT_EQ(t->cipher, 17);
  EXPECT_EQ(t->timeout, milliseconds(500));
  EXPECT_EQ(t->privlvl, "OPERATOR");
  EXPECT_EQ(t->poll, milliseconds(50));
  EXPECT_EQ(t->Address(), "127.0.0.1:16231");
  EXPECT_EQ(t->RedactedUri(), "ipmi://admin:***@127.0.0.1:16231?cipher=17&timeout=0.5&privlvl=operator&poll_ms=50");

  auto d = ParseIpmiUri("ipmi://root:calvin@bmc-7.rack2.example:623");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->port, 623);
  EXPECT_EQ(d->cipher, 3);
  EXPECT_EQ(d->timeout, milliseconds(2000));
  EXPECT_EQ(d->RedactedUri(), "ipmi://root:***@bmc-7.rack2.example:623?cipher=3&timeout=2");

  auto v6 = ParseIpmiUri("ipmi://root:calvin@[fd00::7]?lanplus=1");
  ASSERT_TRUE(v6.ok()) << v6.error().message;
  EXPECT_EQ(v6->host, "fd00::7");
  EXPECT_EQ(v6->Address(), "[fd00::7]:623");

  auto drv = Open("ipmi://admin:s3cret@127.0.0.1:9?cipher=3");
  ASSERT_TRUE(drv);
  EXPECT_TRUE(drv->can_fence());
  EXPECT_EQ(drv->address(), "127.0.0.1:9");
  EXPECT_EQ(drv->uri().find("s3cret"), std::string::npos) << drv->uri();

  EXPECT_EQ(RedactFenceUri("ipmi://admin:s3cret@127.0.0.1"), "ipmi://admin:***@127.0.0.1");
  EXPECT_EQ(RedactFenceUri("ipmi://admin:s3@c:ret@127.0.0.1"), "ipmi://admin:***@127.0.0.1");
  EXPECT_EQ(RedactFenceUri("none"), "none");
}

TEST(FenceUri, RejectsBadUrisClearlyWithoutThePassword) {
  const std::string pw = "Zq9-secret";
  struct Case {
    std::string uri, says;
  } cases[] = {
      {"", "no fence URI"},
      {"ipmi:127.0.0.1", "use ipmi://USER:PASSWORD@HOST"},
      {"ipmi://127.0.0.1:623", "credentials missing"},
      {"ipmi://admin@127.0.0.1", "password missing"},
      {"ipmi://admin:@127.0.0.1", "password missing"},
      {"ipmi://:" + pw + "@127.0.0.1", "user name missing"},
      {"ipmi://admin:" + pw + "@", "address missing"},
      {"ipmi://admin:" + pw + "@127.0.0.1:0", "port '0' is not a number in 1..65535"},
      {"ipmi://admin:" + pw + "@127.0.0.1:70000", "port '70000'"},
      {"ipmi://admin:" + pw + "@127.0.0.1:6x3", "port '6x3'"},
      {"ipmi://admin:" + pw + "@127.0.0.1:", "port missing"},
      {"ipmi://admin:" + pw + "@fd00::7", "IPv6 address must be written in brackets"},
      {"ipmi://admin:" + pw + "@bad host", "not a valid host name"},
      {"ipmi://admin:" + pw + "@127.0.0.1/x", "path is not allowed"},
      {"ipmi://admin:" + pw + "@127.0.0.1?cipher=99", "cipher '99'"},
      {"ipmi://admin:" + pw + "@127.0.0.1?ciper=3", "unknown option 'ciper'"},
      {"ipmi://admin:" + pw + "@127.0.0.1?cipher=3&cipher=3", "given twice"},
      {"ipmi://admin:" + pw + "@127.0.0.1?timeout=0", "timeout '0'"},
      {"ipmi://admin:" + pw + "@127.0.0.1?timeout=abc", "timeout 'abc'"},
      {"ipmi://admin:" + pw + "@127.0.0.1?privlvl=root", "privlvl 'root'"},
      {"ipmi://admin:" + pw + "@127.0.0.1?lanplus=0", "IPMI 1.5) is not supported"},
      {"ipmi://admin:" + pw + "@127.0.0.1?cipher", "needs a value"},
      {"ipmi://admin:" + pw + "%zz@127.0.0.1", "bad percent-encoding"},
      {"ipmi://admin:" + pw + "123456789012345@127.0.0.1", "longer than IPMI 2.0's 20 bytes"},
      {"redfish://admin:" + pw + "@127.0.0.1", "scheme 'redfish' is not supported"},
      {"NONE", "use ipmi://USER:PASSWORD@HOST"},
  };
  for (const auto& c : cases) {
    auto d = OpenFenceDriver(c.uri);
    ASSERT_FALSE(d.ok()) << c.uri;
    EXPECT_EQ(d.error().code, ErrorCode::kInvalid) << c.uri;
    EXPECT_NE(d.error().message.find(c.says), std::string::npos) << c.uri << " -> " << d.error().message;
    EXPECT_EQ(d.error().message.find("secret"), std::string::npos) << c.uri << " -> " << d.error().message;
  }
}

// --- none -------------------------------------------------------------------------------------

TEST(FenceNone, EveryCallFailsSayingTheHostIsNotHealed) {
  auto d = Open("none");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->can_fence());
  EXPECT_EQ(d->uri(), "none");
  EXPECT_EQ(d->address(), "");
  auto s = d->Status();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnprocessable);
  for (const Error& e :
       {s.error(), d->PowerOff(kDefaultPowerTimeout).error(), d->PowerOn(kDefaultPowerTimeout).error()}) {
    EXPECT_NE(e.message.find("host has no working BMC; it will not be healed automatically"), std::string::npos)
        << e.message;
  }
  EXPECT_FALSE(d->PowerOff(kDefaultPowerTimeout).ok());
}

// --- against ipmi_sim -------------------------------------------------------------------------

TEST(FenceIpmi, StatusOffOnConfirmed) {
  auto bmc = StartBmc();
  ASSERT_TRUE(bmc);
  auto d = Open(bmc->uri());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->address(), bmc->address());

  auto s = d->Status();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->power, Power::kOn) << s->Describe();
  EXPECT_EQ(s->answer, "Chassis Power is on");
  EXPECT_GT(s->took.count(), 0);
  EXPECT_LT(s->took.count(), 1000);

  Status off = d->PowerOff(milliseconds(3000));
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(bmc->powered_on());
  s = d->Status();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->power, Power::kOff);

  Status on = d->PowerOn(milliseconds(3000));
  ASSERT_TRUE(on.ok()) << on.error().message;
  EXPECT_TRUE(bmc->powered_on());
  s = d->Status();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->power, Power::kOn);
}

TEST(FenceIpmi, PowerOffReturnsOnlyOnceStatusReadsOff) {
  TestBmcOptions o;
  o.chassis = TestBmcOptions::kSlow;
  o.slow_ms = 400;
  auto bmc = StartBmc(o);
  ASSERT_TRUE(bmc);
  auto d = Open(bmc->uri("&poll_ms=20"));
  ASSERT_TRUE(d);
  auto t0 = Clock::now();
  Status off = d->PowerOff(milliseconds(3000));
  auto took = Since(t0);
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(bmc->powered_on());  // off when PowerOff returned, not before
  EXPECT_GE(took.count(), 400);
  EXPECT_LT(took.count(), 1500);
  EXPECT_EQ(bmc->power_commands(), 1);  // accepted once, then only status reads
}

TEST(FenceIpmi, UnconfirmedPowerOffIsAnError) {
  TestBmcOptions o;
  o.chassis = TestBmcOptions::kStuck;  // accepts power off, stays on
  auto bmc = StartBmc(o);
  ASSERT_TRUE(bmc);
  auto d = Open(bmc->uri());
  ASSERT_TRUE(d);
  auto t0 = Clock::now();
  Status off = d->PowerOff(milliseconds(1000));
  auto took = Since(t0);
  ASSERT_FALSE(off.ok()) << "a power-off the BMC accepted but never reported must not succeed";
  EXPECT_EQ(off.error().code, ErrorCode::kUnavailable);
  const std::string& m = off.error().message;
  EXPECT_NE(m.find("BMC " + bmc->address()), std::string::npos) << m;
  EXPECT_NE(m.find("power-off NOT confirmed within 1 s"), std::string::npos) << m;
  EXPECT_NE(m.find("'Chassis Power Control: Down/Off'"), std::string::npos) << m;
  EXPECT_NE(m.find("last 'Chassis Power is on'"), std::string::npos) << m;
  EXPECT_NE(m.find("may still be running"), std::string::npos) << m;
  EXPECT_GE(took.count(), 950);
  EXPECT_LT(took.count(), 1600);
  EXPECT_TRUE(bmc->powered_on());
}

TEST(FenceIpmi, AlreadyOffIsConfirmedAtOnce) {
  TestBmcOptions o;
  o.powered_on = false;
  auto bmc = StartBmc(o);
  ASSERT_TRUE(bmc);
  auto d = Open(bmc->uri());
  ASSERT_TRUE(d);
  auto s = d->Status();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->power, Power::kOff);
  auto t0 = Clock::now();
  Status off = d->PowerOff(milliseconds(3000));
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_LT(Since(t0).count(), 1000);
}

TEST(FenceIpmi, WrongPasswordFailsAtOnceAndSaysSo) {
  auto bmc = StartBmc();
  ASSERT_TRUE(bmc);
  std::string uri = bmc->uri();
  uri.replace(uri.find("test-bmc-pw"), 11, "Wrong-Passw0rd");
  auto d = Open(uri);
  ASSERT_TRUE(d);
  auto t0 = Clock::now();
  auto s = d->Status();
  ASSERT_FALSE(s.ok());
  EXPECT_LT(Since(t0).count(), 1000);
  const std::string& m = s.error().message;
  EXPECT_NE(m.find("BMC " + bmc->address() + " (user admin)"), std::string::npos) << m;
  EXPECT_NE(m.find("login refused: wrong password"), std::string::npos) << m;
  EXPECT_NE(m.find("RAKP 2 HMAC is invalid"), std::string::npos) << m;
  EXPECT_EQ(m.find("Wrong-Passw0rd"), std::string::npos) << m;
  EXPECT_EQ(m.find("test-bmc-pw"), std::string::npos) << m;

  t0 = Clock::now();
  Status off = d->PowerOff(milliseconds(5000));
  ASSERT_FALSE(off.ok());
  EXPECT_LT(Since(t0).count(), 1000) << "a refused login does not wait for the deadline";
  EXPECT_NE(off.error().message.find("wrong password"), std::string::npos) << off.error().message;
  EXPECT_TRUE(bmc->powered_on());
  EXPECT_EQ(bmc->power_commands(), 0);
}

TEST(FenceIpmi, UnknownUserSaysSo) {
  auto bmc = StartBmc();
  ASSERT_TRUE(bmc);
  std::string uri = bmc->uri();
  uri.replace(uri.find("admin"), 5, "nobody");
  auto d = Open(uri);
  ASSERT_TRUE(d);
  auto s = d->Status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("unknown user name 'nobody'"), std::string::npos) << s.error().message;
}

TEST(FenceIpmi, CommandRefusedForLackOfPrivilegeFailsAtOnce) {
  auto bmc = StartBmc();
  ASSERT_TRUE(bmc);
  auto d = Open(bmc->uri("&privlvl=user"));
  ASSERT_TRUE(d);
  auto s = d->Status();  // a user may read the power state
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto t0 = Clock::now();
  Status off = d->PowerOff(milliseconds(5000));
  ASSERT_FALSE(off.ok());
  EXPECT_LT(Since(t0).count(), 1000);
  EXPECT_NE(off.error().message.find("'chassis power off': refused: the user lacks the privilege"), std::string::npos)
      << off.error().message;
  EXPECT_NE(off.error().message.find("Insufficient privilege level"), std::string::npos) << off.error().message;
  EXPECT_TRUE(bmc->powered_on());
}

TEST(FenceIpmi, NothingListeningTimesOutFastNamingTheAddress) {
  int port = testing::FreeUdpPort();
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  auto d = Open("ipmi://admin:Zq9-secret@" + addr + "?cipher=3&timeout=0.5");
  ASSERT_TRUE(d);
  auto t0 = Clock::now();
  auto s = d->Status();
  auto took = Since(t0);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(s.error().message.find("BMC " + addr), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("no answer within 0.5 s"), std::string::npos) << s.error().message;
  EXPECT_GE(took.count(), 450);
  EXPECT_LT(took.count(), 1000);

  t0 = Clock::now();
  Status off = d->PowerOff(milliseconds(1200));
  took = Since(t0);
  ASSERT_FALSE(off.ok());
  const std::string& m = off.error().message;
  EXPECT_NE(m.find("BMC " + addr), std::string::npos) << m;
  EXPECT_NE(m.find("power-off NOT confirmed within 1.2 s"), std::string::npos) << m;
  EXPECT_NE(m.find("the BMC answered none of"), std::string::npos) << m;
  EXPECT_NE(m.find("first: 'chassis power off': no answer within 0.5 s"), std::string::npos) << m;
  EXPECT_EQ(m.find("secret"), std::string::npos) << m;
  EXPECT_LT(took.count(), 1700);
}

TEST(FenceIpmi, PasswordWithReservedCharactersIsPercentDecoded) {
  TestBmcOptions o;
  o.user = "op:er@tor";
  o.password = "p@ss:w/rd?&=%#";
  auto bmc = StartBmc(o);
  ASSERT_TRUE(bmc);
  auto d = Open(bmc->uri());
  ASSERT_TRUE(d);
  auto s = d->Status();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->power, Power::kOn);
  EXPECT_EQ(d->uri().find("p%40ss"), std::string::npos) << d->uri();
}

// The password reaches ipmitool through its environment: never in any process's argv.
TEST(FenceIpmi, PasswordIsNotInTheProcessList) {
  int port = testing::FreeUdpPort();
  const std::string pw = "Zq9-argv-secret";
  auto d = Open("ipmi://admin:" + pw + "@127.0.0.1:" + std::to_string(port) + "?timeout=1");
  ASSERT_TRUE(d);
  std::atomic<bool> done{false};
  std::thread call([&] {
    (void)d->Status();  // nothing answers: ipmitool runs for the whole second
    done = true;
  });
  int seen_ipmitool = 0, seen_password = 0;
  const std::string self = std::to_string(::getpid());
  while (!done) {
    DIR* proc = ::opendir("/proc");
    while (dirent* e = ::readdir(proc)) {
      if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
      std::ifstream f(std::string("/proc/") + e->d_name + "/cmdline");
      std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      if (cmd.find(pw) != std::string::npos) ++seen_password;
      if (cmd.find("ipmitool") != std::string::npos && cmd.find(std::to_string(port)) != std::string::npos)
        ++seen_ipmitool;
    }
    ::closedir(proc);
    std::this_thread::sleep_for(milliseconds(5));
  }
  call.join();
  EXPECT_GT(seen_ipmitool, 0) << "never saw the ipmitool process: the check proved nothing";
  EXPECT_EQ(seen_password, 0);
}

// Timings: median of a few calls, printed for README.md. Generous bounds: the machine is shared.
TEST(FenceIpmi, Timings) {
  auto bmc = StartBmc();
  ASSERT_TRUE(bmc);
  auto d = Open(bmc->uri("&poll_ms=0"));
  ASSERT_TRUE(d);
  std::vector<long> status, off, on;
  for (int i = 0; i < 7; ++i) {
    auto t0 = Clock::now();
    auto s = d->Status();
    ASSERT_TRUE(s.ok()) << s.error().message;
    status.push_back(Since(t0).count());
  }
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    Status s = d->PowerOff(milliseconds(3000));
    ASSERT_TRUE(s.ok()) << s.error().message;
    off.push_back(Since(t0).count());
    t0 = Clock::now();
    s = d->PowerOn(milliseconds(3000));
    ASSERT_TRUE(s.ok()) << s.error().message;
    on.push_back(Since(t0).count());
  }
  auto median = [](std::vector<long> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto worst = [](const std::vector<long>& v) { return *std::max_element(v.begin(), v.end()); };
  std::printf("# fence timings (ipmitool lanplus -C 3 -> ipmi_sim on loopback), median/worst ms: "
              "status %ld/%ld (n=%zu), power-off confirmed %ld/%ld (n=%zu), power-on confirmed %ld/%ld (n=%zu)\n",
              median(status), worst(status), status.size(), median(off), worst(off), off.size(), median(on),
              worst(on), on.size());
  EXPECT_LT(median(status), 1000);
  EXPECT_LT(median(off), 2000);
}

}  // namespace
}  // namespace corepin
