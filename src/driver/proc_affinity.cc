#include "driver/proc_affinity.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace corepin {
namespace {

bool ReadFile(const std::filesystem::path& p, std::string* out) {
  std::ifstream in(p);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return !in.bad();
}

bool ParseInt(std::string_view s, int* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

std::string TrimRight(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

// PF_USER_WORKER (include/linux/sched.h, Linux 6.4+): a kernel worker in a user thread group.
constexpr unsigned long kPfUserWorker = 0x00004000;

// The flags field (9th) of /proc/PID/task/TID/stat; the comm before it may hold spaces.
unsigned long StatFlags(const std::string& stat) {
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream in(stat.substr(paren + 1));
  std::string field;
  for (int i = 0; i < 7 && in >> field; ++i) {
  }
  return std::strtoul(field.c_str(), nullptr, 10);
}

}  // namespace

int VcpuIndexFromComm(const std::string& comm) {
  const std::string c = TrimRight(comm);
  if (c.rfind("CPU ", 0) != 0) return -1;
  auto slash = c.find('/');
  if (slash == std::string::npos) return -1;
  std::string accel = c.substr(slash + 1);
  if (accel != "KVM" && accel != "TCG") return -1;
  int index = -1;
  if (!ParseInt(std::string_view(c).substr(4, slash - 4), &index) || index < 0) return -1;
  return index;
}

Result<ProcAffinity> ReadProcAffinity(int pid, const std::string& proc_root) {
  namespace fs = std::filesystem;
  const fs::path task_dir = fs::path(proc_root) / std::to_string(pid) / "task";
  std::error_code ec;
  fs::directory_iterator it(task_dir, ec);
  if (ec) return NotFound("process " + std::to_string(pid) + ": cannot list " + task_dir.string() + ": " + ec.message());

  ProcAffinity out;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string comm, status, stat;
    // A thread can exit between the listing and the read: skip it.
    if (!ReadFile(it->path() / "comm", &comm) || !ReadFile(it->path() / "status", &status) ||
        !ReadFile(it->path() / "stat", &stat))
      continue;
    const std::string key = "Cpus_allowed_list:";
    auto pos = status.find(key);
    if (pos == std::string::npos) continue;
    auto end = status.find('\n', pos);
    auto cpus = CpuSet::Parse(status.substr(pos + key.size(), end - pos - key.size()));
    if (!cpus.ok())
      return Internal(it->path().string() + "/status: bad Cpus_allowed_list: " + cpus.error().message);
    int vcpu = VcpuIndexFromComm(comm);
    if (vcpu >= 0) {
      out.vcpus[vcpu] = *cpus;
    } else if (StatFlags(stat) & kPfUserWorker) {
      out.kernel_workers = out.kernel_workers.Union(*cpus);
      ++out.kernel_worker_threads;
    } else {
      out.emulator = out.emulator.Union(*cpus);
      ++out.emulator_threads;
    }
  }
  if (ec) return NotFound("process " + std::to_string(pid) + ": listing " + task_dir.string() + ": " + ec.message());
  return out;
}

Result<int> ReadQemuPid(const std::string& run_dir, const std::string& domain) {
  const std::string path = run_dir + "/" + domain + ".pid";
  std::string text;
  if (!ReadFile(path, &text)) return NotFound("VM '" + domain + "': no pid file " + path + " (is it running here?)");
  int pid = -1;
  if (!ParseInt(TrimRight(text), &pid) || pid <= 0) return Internal("VM '" + domain + "': bad pid file " + path);
  return pid;
}

}  // namespace corepin
