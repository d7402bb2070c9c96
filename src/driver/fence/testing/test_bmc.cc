#include "driver/fence/testing/test_bmc.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/subprocess.h"
#include "driver/fence/fence_driver.h"

namespace corepin::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

}  // namespace

int FreeUdpPort() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

Result<std::unique_ptr<TestBmc>> TestBmc::Start(const TestBmcOptions& options) {
  if (FindProgram("ipmi_sim").empty())
    return NotFound("ipmi_sim not found: install openipmi (src/driver/fence/packages.txt)");
  if (FindProgram("ipmitool").empty())
    return NotFound("ipmitool not found: install ipmitool (src/driver/fence/packages.txt)");
  for (char c : options.user + options.password)
    if (c == '"' || c == '\\' || c == '\n') return Invalid("TestBmc: no '\"', '\\' or newline in user or password");
  std::unique_ptr<TestBmc> b(new TestBmc);
  b->options_ = options;
  char tmpl[] = "/tmp/corepin-bmc-XXXXXX";
  if (!::mkdtemp(tmpl)) return Internal("mkdtemp failed");
  b->dir_ = tmpl;
  const std::string& d = b->dir_;
  std::filesystem::create_directories(d + "/state");
  WriteFile(d + "/power", options.powered_on ? "1\n" : "0\n");

  // chassis_control: ipmi_sim runs it as `PROG get power` (answer "power:0|1") and
  // `PROG set power 0|1` (also `set reset 1`, `set shutdown 1`).
  std::string set;
  switch (options.chassis) {
    case TestBmcOptions::kFollows: set = "echo \"$3\" > \"$d/power\""; break;
    case TestBmcOptions::kSlow:
      set = "(sleep " + std::to_string(options.slow_ms / 1000.0) + "; echo \"$3\" > \"$d/power\") " +
            "</dev/null >/dev/null 2>&1 &";
      break;
    case TestBmcOptions::kStuck: set = ":"; break;
  }
  WriteFile(d + "/chassis", "#!/bin/sh\n"
                            "d='" + d + "'\n"
                            "[ \"$1\" = set ] && echo \"$*\" >> \"$d/commands\"\n"
                            "case \"$1 $2\" in\n"
                            "  'get power') echo \"power:$(cat \"$d/power\")\" ;;\n"
                            "  'set power') " + set + " ;;\n"
                            "  'get '*) echo \"$2:0\" ;;\n"
                            "esac\n"
                            "exit 0\n",
            0755);
  WriteFile(d + "/sim.emu", "mc_setbmc 0x20\n"
                            "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n"
                            "mc_enable 0x20\n");
  Status st = Internal("not started");
  for (int attempt = 0; attempt < 3; ++attempt) {  // another process may take the free port first
    b->port_ = FreeUdpPort();
    st = b->Launch();
    if (st.ok()) return b;
  }
  return st.error();
}

Status TestBmc::Launch() {
  const std::string& d = dir_;
  WriteFile(d + "/lan.conf", "name \"corepin-test-bmc\"\n"
                             "set_working_mc 0x20\n"
                             "  startlan 1\n"
                             "    addr 127.0.0.1 " + std::to_string(port_) + "\n"
                             "    priv_limit admin\n"
                             "    allowed_auths_callback none md2 md5 straight\n"
                             "    allowed_auths_user none md2 md5 straight\n"
                             "    allowed_auths_operator none md2 md5 straight\n"
                             "    allowed_auths_admin none md2 md5 straight\n"
                             "    guid c07e1ab0000000000000000000fe0001\n"
                             "  endlan\n"
                             "  chassis_control \"" + d + "/chassis\"\n"
                             "  user 2 true \"" + options_.user + "\" \"" + options_.password +
                                 "\" admin 10 none md2 md5 straight\n",
            0600);
  std::string sim = FindProgram("ipmi_sim");
  std::vector<std::string> args = {sim, "-n", "-p", "-c", d + "/lan.conf", "-f", d + "/sim.emu", "-s", d + "/state"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log = d + "/ipmi_sim.out";
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    if (::getppid() != parent) ::_exit(1);
    int null = ::open("/dev/null", O_RDONLY);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::closefrom(3);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  // Ready when it answers a power status (up to 5 s).
  std::vector<std::string> ask = {FindProgram("ipmitool"), "-I", "lanplus", "-C", "3", "-H", "127.0.0.1",
                                  "-p", std::to_string(port_), "-U", options_.user, "-E", "-N", "1", "-R", "1",
                                  "chassis", "power", "status"};
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "IPMI_PASSWORD=" + options_.password};
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Internal("ipmi_sim exited at start on port " + std::to_string(port_) + ": " + ReadFile(log));
    }
    auto r = RunProcess(ask, env, std::chrono::milliseconds(500));
    if (r.ok() && r->exit_code == 0) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return Internal("ipmi_sim did not answer on 127.0.0.1:" + std::to_string(port_) + " within 5 s: " + ReadFile(log));
}

void TestBmc::Stop() {
  StopChild(pid_, std::chrono::seconds(2));
  pid_ = -1;
}

TestBmc::~TestBmc() {
  Stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

std::string TestBmc::uri(const std::string& options) const {
  return "ipmi://" + PercentEncode(options_.user) + ":" + PercentEncode(options_.password) + "@127.0.0.1:" + std::to_string(port_) +
         "?cipher=3" + options;
}

bool TestBmc::powered_on() const { return ReadFile(dir_ + "/power").rfind("1", 0) == 0; }

void TestBmc::set_powered_on(bool on) const { WriteFile(dir_ + "/power", on ? "1\n" : "0\n"); }

int TestBmc::power_commands() const {
  std::string log = ReadFile(dir_ + "/commands");
  int n = 0;
  for (size_t p = 0; (p = log.find("set power", p)) != std::string::npos; ++p) ++n;
  return n;
}

}  // namespace corepin::testing
