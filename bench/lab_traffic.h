// What the lab benchmarks (lab_switchover_bench, lab_failover_bench) share: a UDP socket made
// inside the client's network namespace, steady request traffic with every answer recorded
// ("NAME ROLE seq:N": who answered which request, and when), and median/p99/worst figures.
// Header-only: two small programs, no library of their own.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace lab_bench {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

inline double MsBetween(Clock::time_point a, Clock::time_point b) { return Ms(b - a).count(); }
inline Clock::duration FromMs(double ms) { return std::chrono::duration_cast<Clock::duration>(Ms(ms)); }

inline sockaddr_in ParseTarget(const std::string& target) {
  const size_t colon = target.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  const int port = colon == std::string::npos ? 0 : std::atoi(target.c_str() + colon + 1);
  if (port <= 0 || port > 65535 || inet_pton(AF_INET, target.substr(0, colon).c_str(), &sa.sin_addr) != 1)
    throw std::runtime_error("--target " + target + ": expected IPv4:PORT, e.g. 198.18.0.10:7777");
  sa.sin_port = htons(port);
  return sa;
}

// --- the UDP socket, made inside the client's network namespace ------------------------------

inline std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// A socket belongs to the namespace it was created in, for its whole life. So the calling
// thread enters the client's namespace only to create (and connect) the socket, then returns
// to its own, where corepind's 127.0.0.1 is. Call before starting any thread.
inline int OpenUdpInNetns(const std::string& netns, const sockaddr_in& target) {
  const int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0) throw std::runtime_error(Errno("open /proc/thread-self/ns/net"));
  const std::string path = "/run/netns/" + netns;
  const int client = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (client < 0) throw std::runtime_error(Errno("open " + path + " (does the lab client exist?)"));
  if (setns(client, CLONE_NEWNET) != 0) throw std::runtime_error(Errno("setns " + path + " (needs root)"));
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int socket_errno = errno;
  // connect() picks the route and source address, which exist only in the client's namespace;
  // it also makes the kernel drop datagrams from anyone but the service.
  const bool connected = fd >= 0 && connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0;
  const int connect_errno = errno;
  if (setns(own, CLONE_NEWNET) != 0) throw std::runtime_error(Errno("setns back to the original network namespace"));
  close(client);
  close(own);
  if (fd < 0) throw std::runtime_error("socket in " + path + ": " + std::strerror(socket_errno));
  if (!connected) throw std::runtime_error("connect in " + path + ": " + std::strerror(connect_errno));
  // recv wakes up at least every 100 ms, so that the receiver notices when to stop.
  timeval tv{.tv_sec = 0, .tv_usec = 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// --- the traffic: requests at a steady rate, answers recorded -------------------------------

// Every request sent (its seq is its index) and every answer received, in time order.
class Traffic {
 public:
  struct Request {
    Clock::time_point sent;
    bool answered = false;
    std::string by;  // who answered it first
  };
  struct Answer {
    Clock::time_point at;
    std::string by;
    long seq;
  };

  Traffic(int fd, double interval_ms) : fd_(fd), interval_(FromMs(interval_ms)) {}
  ~Traffic() { Stop(); }

  void Start() {
    sender_ = std::thread([this] { SendLoop(); });
    receiver_ = std::thread([this] { ReceiveLoop(); });
  }
  void Stop() {
    stop_ = true;
    if (sender_.joinable()) sender_.join();
    if (receiver_.joinable()) receiver_.join();
  }

  // True when every request sent in the `window_ms` before the last `late_ms` was answered by
  // `name` (and there were some).
  bool Steady(const std::string& name, double window_ms, double late_ms) const {
    const auto end = Clock::now() - FromMs(late_ms);
    std::lock_guard lock(mu_);
    auto [first, last] = RequestsBetween(end - FromMs(window_ms), end);
    if (first == last) return false;
    return std::all_of(first, last, [&](const Request& r) { return r.answered && r.by == name; });
  }

  // The first answer by `name` received at or after `since`.
  std::optional<Answer> FirstAnswerBy(const std::string& name, Clock::time_point since) const {
    std::lock_guard lock(mu_);
    auto it = std::lower_bound(answers_.begin(), answers_.end(), since,
                               [](const Answer& a, Clock::time_point t) { return a.at < t; });
    for (; it != answers_.end(); ++it)
      if (it->by == name) return *it;
    return std::nullopt;
  }

  // The last answer by `name` received at or after `since`.
  std::optional<Answer> LastAnswerBy(const std::string& name, Clock::time_point since) const {
    std::lock_guard lock(mu_);
    for (auto it = answers_.rbegin(); it != answers_.rend() && it->at >= since; ++it)
      if (it->by == name) return *it;
    return std::nullopt;
  }

  // Names that answered at or after `since` (to notice a stranger).
  std::vector<std::string> AnsweredSince(Clock::time_point since) const {
    std::lock_guard lock(mu_);
    std::vector<std::string> names;
    for (auto it = answers_.rbegin(); it != answers_.rend() && it->at >= since; ++it)
      if (std::find(names.begin(), names.end(), it->by) == names.end()) names.push_back(it->by);
    return names;
  }

  struct Count {
    long sent = 0, unanswered = 0;
  };
  Count Unanswered(Clock::time_point from, Clock::time_point to) const {
    std::lock_guard lock(mu_);
    auto [first, last] = RequestsBetween(from, to);
    Count c;
    c.sent = last - first;
    c.unanswered = std::count_if(first, last, [](const Request& r) { return !r.answered; });
    return c;
  }
  // Every request sent before `until`.
  Count Total(Clock::time_point until) const { return Unanswered(Clock::time_point::min(), until); }
  long send_errors() const { return send_errors_; }

 private:
  using Iter = std::vector<Request>::const_iterator;
  // Requests sent in [from, to); the caller holds mu_. Send times only grow, so a binary search.
  std::pair<Iter, Iter> RequestsBetween(Clock::time_point from, Clock::time_point to) const {
    auto by_time = [](const Request& r, Clock::time_point t) { return r.sent < t; };
    return {std::lower_bound(requests_.begin(), requests_.end(), from, by_time),
            std::lower_bound(requests_.begin(), requests_.end(), to, by_time)};
  }

  // Absolute deadlines keep the rate steady whatever a send costs. If the thread falls behind
  // (this machine has 2 CPUs and TCG guests), it skips ahead instead of sending a burst.
  void SendLoop() {
    auto next = Clock::now();
    for (long seq = 0; !stop_; ++seq) {
      std::this_thread::sleep_until(next);
      const std::string msg = "seq:" + std::to_string(seq);
      {
        std::lock_guard lock(mu_);
        requests_.push_back({Clock::now(), false, ""});
      }
      if (send(fd_, msg.data(), msg.size(), 0) < 0) ++send_errors_;  // e.g. ECONNREFUSED after an ICMP
      next += interval_;
      if (const auto now = Clock::now(); next < now - interval_) next = now;
    }
  }

  // Answers look like "NAME ROLE seq:N".
  void ReceiveLoop() {
    char buf[512];
    while (!stop_) {
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      const auto at = Clock::now();
      if (n <= 0) continue;  // timeout (to check stop_), or an ICMP error
      const std::string text(buf, n);
      const size_t seq_at = text.rfind(" seq:");
      if (seq_at == std::string::npos) continue;
      const long seq = std::atol(text.c_str() + seq_at + 5);
      const std::string by = text.substr(0, text.find(' '));
      std::lock_guard lock(mu_);
      if (seq < 0 || seq >= static_cast<long>(requests_.size())) continue;
      answers_.push_back({at, by, seq});
      Request& r = requests_[seq];
      if (!r.answered) {
        r.answered = true;
        r.by = by;
      }
    }
  }

  const int fd_;
  const Clock::duration interval_;
  std::atomic<bool> stop_{false};
  std::atomic<long> send_errors_{0};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::vector<Answer> answers_;
  std::thread sender_, receiver_;
};

// Waits up to `timeout_s` for `ready` to hold, checking every millisecond.
template <typename F>
inline bool WaitFor(double timeout_s, F ready) {
  const auto deadline = Clock::now() + FromMs(timeout_s * 1000);
  while (Clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ready();
}

struct Stats {
  double median = 0, p99 = 0, worst = 0;
};

// Nearest-rank percentiles (with 20..99 rounds, p99 is the worst round).
inline Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) { return v[std::max<size_t>(1, static_cast<size_t>(std::ceil(p * v.size()))) - 1]; };
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, rank(0.99), v.back()};
}

}  // namespace lab_bench
