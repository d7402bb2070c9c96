// HostMonitor: is each host's hypervisor answering? One prober thread per host, with a
// connection of its own (so a frozen libvirtd blocks only its prober), makes one round trip
// every `interval`; a watcher declares a host suspected once it has not answered for `misses`
// intervals (default 5 x 100 ms), and recovered when it answers again. Callbacks run on the
// watcher thread; they may block briefly (e.g. to ask the host's BMC).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "driver/hypervisor.h"

namespace corepin {

class HostMonitor {
 public:
  using Connect = std::function<Result<std::unique_ptr<Hypervisor>>(const std::string& uri)>;
  // on_change(host, suspected, silent_for): suspected true when the host stopped answering.
  using OnChange = std::function<void(const std::string& host, bool suspected, std::chrono::milliseconds silent_for)>;

  HostMonitor(Connect connect, std::chrono::milliseconds interval, int misses, OnChange on_change);
  ~HostMonitor();  // stops every thread (a prober blocked in libvirt is detached, not waited for)

  void Add(const std::string& host, const std::string& uri);
  void Remove(const std::string& host);
  bool Suspected(const std::string& host) const;
  // Answered within the last two intervals (true for a host not monitored). Callers that would
  // block on a frozen host (the reconcile) skip a host that is not answering, before it is
  // even suspected.
  bool Answering(const std::string& host) const;
  // Silent for longer than `misses` intervals: what the watcher declares suspected at its next
  // pass, read here directly, so that a caller holding up the watcher's callbacks (the healer,
  // which holds the controller's lock they take) still gets the verdict. SilentFor: since the
  // host last answered (0 for a host not monitored).
  bool Silent(const std::string& host) const;
  std::chrono::milliseconds SilentFor(const std::string& host) const;

 private:
  struct Probe {
    std::string uri;
    std::atomic<int64_t> last_ok_ms{0};  // steady clock
    std::atomic<bool> stop{false};
    bool suspected = false;
  };
  static int64_t NowMs();
  static void ProbeLoop(Connect connect, std::chrono::milliseconds interval, std::shared_ptr<Probe> p);
  void WatchLoop();

  Connect connect_;
  const std::chrono::milliseconds interval_;
  const int misses_;
  OnChange on_change_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, std::shared_ptr<Probe>> probes_;
  std::thread watcher_;
};

}  // namespace corepin
