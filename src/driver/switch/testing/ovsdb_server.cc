#include "driver/switch/testing/ovsdb_server.h"

#include "common/subprocess.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace corepin::testing {
namespace {

const char* kSchema = "/usr/share/openvswitch/vswitch.ovsschema";

std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> v;
  for (const auto& a : args) v.push_back(const_cast<char*>(a.c_str()));
  v.push_back(nullptr);
  return v;
}

int FreeTcpPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

bool CanConnect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

Result<std::string> RunTool(const std::vector<std::string>& argv) {
  std::string exe = FindProgram(argv.at(0));
  if (exe.empty()) return NotFound(argv[0] + " not found: install openvswitch-switch (src/driver/switch/packages.txt)");
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return Internal("pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    auto v = Argv(argv);
    ::execv(exe.c_str(), v.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  // Small outputs: reading stdout then stderr cannot deadlock for these tools.
  std::string o = ReadAll(out[0]), e = ReadAll(err[0]);
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return Internal(cmd + " failed (status " + std::to_string(status) + "): " + e);
  }
  return o;
}

Result<std::unique_ptr<TestOvsdbServer>> TestOvsdbServer::Start(bool tcp) {
  std::string server = FindProgram("ovsdb-server");
  if (server.empty() || ::access(kSchema, R_OK) != 0)
    return NotFound("ovsdb-server or " + std::string(kSchema) +
                    " missing: install openvswitch-switch (src/driver/switch/packages.txt)");
  std::unique_ptr<TestOvsdbServer> s(new TestOvsdbServer);
  char tmpl[] = "/tmp/corepin-ovsdb-XXXXXX";
  if (!::mkdtemp(tmpl)) return Internal("mkdtemp failed");
  s->dir_ = tmpl;
  s->sock_ = s->dir_ + "/db.sock";
  if (auto r = RunTool({"ovsdb-tool", "create", s->db_path(), kSchema}); !r.ok()) return r.error();

  if (tcp) s->tcp_port_ = FreeTcpPort();
  if (Status st = s->Launch(); !st.ok()) return st.error();
  if (auto r = s->Vsctl({"init"}); !r.ok()) return r.error();
  return s;
}

Status TestOvsdbServer::Launch() {
  std::string server = FindProgram("ovsdb-server");
  std::string db = db_path(), log = dir_ + "/ovsdb-server.log";
  std::vector<std::string> args = {server, db, "--remote=punix:" + sock_, "--unixctl=" + dir_ + "/ctl",
                                   "--no-chdir", "--log-file=" + log, "-vconsole:off"};
  if (tcp_port_) args.push_back("--remote=ptcp:" + std::to_string(tcp_port_) + ":127.0.0.1");
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
    if (::getppid() != parent) ::_exit(1);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);  // it logs to --log-file
    auto v = Argv(args);
    ::execv(server.c_str(), v.data());
    ::_exit(127);
  }
  pid_ = pid;
  for (int i = 0; i < 100; ++i) {  // up to 5 s for the socket to answer
    if (CanConnect(sock_)) break;
    int status;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid_ = -1;
      std::ifstream f(log);
      std::stringstream ss;
      ss << f.rdbuf();
      return Internal("ovsdb-server exited at start: " + ss.str());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!CanConnect(sock_)) return Internal("ovsdb-server did not open " + sock_ + " within 5 s");
  return Status::Ok();
}

Status TestOvsdbServer::Restart() {
  Stop();
  return Launch();
}

void TestOvsdbServer::Stop() {
  StopChild(pid_, std::chrono::seconds(5));
  pid_ = -1;
}

TestOvsdbServer::~TestOvsdbServer() {
  Stop();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

Result<std::string> TestOvsdbServer::Vsctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"ovs-vsctl", "--db=unix:" + sock_, "--no-wait", "--timeout=5"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunTool(argv);
}

}  // namespace corepin::testing
