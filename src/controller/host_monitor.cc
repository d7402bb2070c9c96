#include "controller/host_monitor.h"

#include <vector>

namespace corepin {

int64_t HostMonitor::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

HostMonitor::HostMonitor(Connect connect, std::chrono::milliseconds interval, int misses, OnChange on_change)
    : connect_(std::move(connect)), interval_(interval), misses_(misses), on_change_(std::move(on_change)) {
  watcher_ = std::thread([this] { WatchLoop(); });
}

HostMonitor::~HostMonitor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (auto& [name, p] : probes_) p->stop = true;
  }
  cv_.notify_all();
  watcher_.join();
}

void HostMonitor::Add(const std::string& host, const std::string& uri) {
  auto p = std::make_shared<Probe>();
  p->uri = uri;
  p->last_ok_ms = NowMs();  // a new host gets `misses` intervals to answer
  {
    std::lock_guard lock(mu_);
    if (probes_.count(host)) probes_[host]->stop = true;
    probes_[host] = p;
  }
  // Detached: a prober stuck in a call to a frozen libvirtd must not hold anyone up. It owns
  // what it uses (a shared Probe and its own connection) and ends at its next wake-up.
  std::thread([connect = connect_, interval = interval_, p] { ProbeLoop(connect, interval, p); }).detach();
}

void HostMonitor::Remove(const std::string& host) {
  std::lock_guard lock(mu_);
  auto it = probes_.find(host);
  if (it == probes_.end()) return;
  it->second->stop = true;
  probes_.erase(it);
}

bool HostMonitor::Suspected(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = probes_.find(host);
  return it != probes_.end() && it->second->suspected;
}

bool HostMonitor::Answering(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = probes_.find(host);
  return it == probes_.end() || NowMs() - it->second->last_ok_ms <= 2 * interval_.count();
}

bool HostMonitor::Silent(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = probes_.find(host);
  return it != probes_.end() && NowMs() - it->second->last_ok_ms > interval_.count() * misses_;  // WatchLoop's rule
}

std::chrono::milliseconds HostMonitor::SilentFor(const std::string& host) const {
  std::lock_guard lock(mu_);
  auto it = probes_.find(host);
  return std::chrono::milliseconds(it == probes_.end() ? 0 : NowMs() - it->second->last_ok_ms);
}

void HostMonitor::ProbeLoop(Connect connect, std::chrono::milliseconds interval, std::shared_ptr<Probe> p) {
  std::unique_ptr<Hypervisor> hv;
  while (!p->stop) {
    if (!hv) {
      auto c = connect(p->uri);
      if (c) hv = std::move(*c);
    }
    if (hv) {
      if (hv->Probe()) p->last_ok_ms = NowMs();
      else hv.reset();  // reconnect next time: a host that comes back gets a fresh connection
    }
    std::this_thread::sleep_for(interval);
  }
}

void HostMonitor::WatchLoop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, interval_, [this] { return stop_; });
    if (stop_) break;
    const int64_t now = NowMs(), limit = interval_.count() * misses_;
    std::vector<std::tuple<std::string, bool, int64_t>> changes;
    for (auto& [name, p] : probes_) {
      const int64_t silent = now - p->last_ok_ms;
      const bool suspected = silent > limit;
      if (suspected != p->suspected) {
        p->suspected = suspected;
        changes.emplace_back(name, suspected, silent);
      }
    }
    lock.unlock();
    for (const auto& [name, suspected, silent] : changes) on_change_(name, suspected, std::chrono::milliseconds(silent));
    lock.lock();
  }
}

}  // namespace corepin
