// What the lab benchmarks (lab_switchover_bench, lab_failover_bench, lab_move_bench) share: a
// UDP socket made inside the client's network namespace, steady request traffic with every answer
// recorded ("NAME ROLE seq:N": who answered which request, and when), corepind's REST API, and
// median/p99/worst figures. Header-only: three small programs, no library of their own.
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
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <httplib.h>
#include <mutex>
#include <nlohmann/json.hpp>
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

  // When `name`'s answers arrived: the last one before `from` (if any), every one in
  // [from, to), and the first one at or after `to` (if any), in time order. So the longest gap
  // between consecutive ones is the longest silence around [from, to), ends included.
  std::vector<Clock::time_point> AnswerTimesAround(const std::string& name, Clock::time_point from, Clock::time_point to) const {
    std::lock_guard lock(mu_);
    std::vector<Clock::time_point> times;
    auto it = std::lower_bound(answers_.begin(), answers_.end(), from,
                               [](const Answer& a, Clock::time_point t) { return a.at < t; });
    for (auto before = it; before != answers_.begin();)
      if ((--before)->by == name) {
        times.push_back(before->at);
        break;
      }
    for (; it != answers_.end(); ++it) {
      if (it->by != name) continue;
      times.push_back(it->at);
      if (it->at >= to) break;
    }
    return times;
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

// Nearest-rank percentiles (with up to 99 rounds, p99 is the worst round).
inline Stats Summarize(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) { return v[std::max<size_t>(1, static_cast<size_t>(std::ceil(p * v.size()))) - 1]; };
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, rank(0.99), v.back()};
}

// The figures of one field over the rounds, e.g. StatsOf(rounds, [](const Round& r) { return r.lost; }).
template <typename Round, typename F>
Stats StatsOf(const std::vector<Round>& rounds, F field) {
  std::vector<double> v;
  for (const auto& r : rounds) v.push_back(static_cast<double>(field(r)));
  return Summarize(v);
}

inline nlohmann::json ToJson(const Stats& s) { return {{"median", s.median}, {"p99", s.p99}, {"worst", s.worst}}; }

inline std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// --- corepind's REST API (docs/api.md) ------------------------------------------------------

// One kept-alive connection for every call, so no call times a TCP connect. TCP_NODELAY by
// default: cpp-httplib writes a request's headers and body in two writes, and with Nagle's
// algorithm the body waits for the ACK of the headers, which the server delays (~40 ms on
// Linux): that would be timed as part of the call.
class Api {
 public:
  explicit Api(const std::string& url, bool tcp_nodelay = true) : http_(url) {
    http_.set_connection_timeout(5);
    http_.set_read_timeout(300);  // a switchover, a migration: never cut one short
    http_.set_keep_alive(true);
    http_.set_tcp_nodelay(tcp_nodelay);
  }

  // The answer's JSON; throws (naming the call and corepind's error) unless 200.
  nlohmann::json Get(const std::string& path) { return Check("GET", path, http_.Get(path.c_str())); }
  nlohmann::json Post(const std::string& path, const std::string& body = "{}") {
    return Check("POST", path, http_.Post(path.c_str(), body, "application/json"));
  }
  // The raw result, for a caller that retries on its own.
  httplib::Result TryPost(const std::string& path, const std::string& body = "{}") {
    return http_.Post(path.c_str(), body, "application/json");
  }

 private:
  static nlohmann::json Check(const std::string& method, const std::string& path, const httplib::Result& res) {
    if (!res) throw std::runtime_error(method + " " + path + ": no answer from corepind (" + httplib::to_string(res.error()) + ")");
    nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (res->status != 200)
      throw std::runtime_error(method + " " + path + " -> " + std::to_string(res->status) + ": " +
                               (j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : res->body));
    if (j.is_discarded()) throw std::runtime_error(method + " " + path + ": the answer is not JSON: " + res->body);
    return j;
  }

  httplib::Client http_;
};

// The member whose role is ACT in a group view (GET /v1/groups/NAME); the benches need exactly one.
inline std::string ActOf(const nlohmann::json& group) {
  std::string act;
  for (const auto& m : group.value("members", nlohmann::json::array())) {
    std::string role = m.value("role", "");
    for (char& c : role) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (role != "act") continue;
    if (!act.empty()) throw std::runtime_error("group " + group.value("name", "?") + " has several ACTs; the bench needs 1+1");
    act = m.value("vm", "");
  }
  if (act.empty()) throw std::runtime_error("no ACT in the group view: " + group.dump());
  return act;
}

}  // namespace lab_bench
