// lab_switchover_bench: how long a planned switchover of a redundancy group takes, seen from a
// client of the service, in the lab (lab/README.md). bench/lab_switchover.sh sets everything up
// (lab, corepind, hosts, a 1+1 group of the lab guest, a client namespace on the service VLAN)
// and runs this program; see that script for the whole picture.
//
// The program
//   - opens a UDP socket inside the client's network namespace (only the socket: the HTTP calls
//     to corepind on 127.0.0.1 are made from the program's own namespace),
//   - sends "seq:N" to the service at a steady rate from one thread and records every answer
//     ("NAME ROLE seq:N": who answered which request, and when) in another,
//   - for each round: waits until answers come steadily from the current ACT, takes the decision
//     time t0, calls POST /v1/groups/NAME/switchover, waits for the first answer from the new
//     ACT (t1), and counts the requests sent between t0 and t1 + margin that got no answer,
//   - prints median, p99 and worst of each figure, and a verdict against the aim (issue 5:
//     the switch step under 50 ms).
//
// Members are told apart by NAME: the role a guest prints is the one it booted with.
//
//   lab_switchover_bench --api http://127.0.0.1:7480 --group bench --netns lab-cpbench
//                        [--target 198.18.0.10:7777] [--interval-ms 2] [--rounds 20] ...
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
#include <cstdio>
#include <cstring>
#include <fstream>
#include <httplib.h>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::duration<double, std::milli>;

double MsBetween(Clock::time_point a, Clock::time_point b) { return Ms(b - a).count(); }
Clock::duration FromMs(double ms) { return std::chrono::duration_cast<Clock::duration>(Ms(ms)); }

// --- options --------------------------------------------------------------------------------

struct Options {
  std::string api = "http://127.0.0.1:7480";
  std::string group;
  std::string netns;                     // a name in /run/netns (lab client NAME: lab-NAME)
  std::string target = "198.18.0.10:7777";
  double interval_ms = 2.0;              // one request every interval_ms
  int rounds = 20;
  double steady_ms = 200;                // answers from the ACT for this long before a switchover
  double late_ms = 100;                  // an answer later than this counts as lost
  double margin_ms = 100;                // losses are counted from t0 to t1 + margin
  double first_answer_timeout_s = 60;    // the ACT's first answer at start (TCG boot is slow)
  double round_timeout_s = 30;           // steadiness, and the new ACT's first answer, per round
  double aim_ms = 50;                    // issue 5: the switch step under 50 ms
  std::string json_out;                  // also write every round as JSON here
  std::string tcp_nodelay = "on";        // off: cpp-httplib's default (Nagle), for comparison
};

const char kUsage[] =
    "usage: lab_switchover_bench --group NAME --netns NETNS [options]\n"
    "  --api URL                 corepind (default http://127.0.0.1:7480)\n"
    "  --group NAME              the redundancy group to switch over\n"
    "  --netns NETNS             the client's network namespace (/run/netns/NETNS)\n"
    "  --target IP:PORT          the service (default 198.18.0.10:7777)\n"
    "  --interval-ms MS          one request every MS (default 2)\n"
    "  --rounds N                switchovers, at least 20 (default 20)\n"
    "  --steady-ms MS            steady answers from the ACT before each switchover (default 200)\n"
    "  --late-ms MS              an answer later than this is a loss (default 100)\n"
    "  --margin-ms MS            losses counted from the decision to the first new answer + MS (default 100)\n"
    "  --first-answer-timeout-s S  first answer from the ACT at start (default 60)\n"
    "  --round-timeout-s S       per round: steady answers, then the new ACT's first answer (default 30)\n"
    "  --aim-ms MS               the verdict's bound on the switch step (default 50)\n"
    "  --json PATH               write the rounds and the summary as JSON\n"
    "  --tcp-nodelay on|off      TCP_NODELAY on the HTTP connection (default on; off is cpp-httplib's default)\n";

Options ParseArgs(int argc, char** argv) {
  Options o;
  std::map<std::string, std::string*> text = {{"--api", &o.api},       {"--group", &o.group},
                                              {"--netns", &o.netns},   {"--target", &o.target},
                                              {"--json", &o.json_out}, {"--tcp-nodelay", &o.tcp_nodelay}};
  std::map<std::string, double*> number = {{"--interval-ms", &o.interval_ms},
                                           {"--steady-ms", &o.steady_ms},
                                           {"--late-ms", &o.late_ms},
                                           {"--margin-ms", &o.margin_ms},
                                           {"--first-answer-timeout-s", &o.first_answer_timeout_s},
                                           {"--round-timeout-s", &o.round_timeout_s},
                                           {"--aim-ms", &o.aim_ms}};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= argc) throw std::runtime_error(flag + ": needs a value\n" + kUsage);
    const std::string value = argv[++i];
    if (auto t = text.find(flag); t != text.end()) {
      *t->second = value;
    } else if (auto n = number.find(flag); n != number.end()) {
      size_t used = 0;
      try {
        *n->second = std::stod(value, &used);
      } catch (const std::exception&) {
      }
      if (used != value.size() || !(*n->second > 0)) throw std::runtime_error(flag + " " + value + ": expected a positive number");
    } else if (flag == "--rounds") {
      o.rounds = std::atoi(value.c_str());
    } else {
      throw std::runtime_error("unknown option " + flag + "\n" + kUsage);
    }
  }
  if (o.group.empty() || o.netns.empty()) throw std::runtime_error(std::string("--group and --netns are required\n") + kUsage);
  if (o.tcp_nodelay != "on" && o.tcp_nodelay != "off") throw std::runtime_error("--tcp-nodelay " + o.tcp_nodelay + ": on or off");
  if (o.rounds < 20) throw std::runtime_error("--rounds " + std::to_string(o.rounds) + ": at least 20 (p99 needs them)");
  return o;
}

sockaddr_in ParseTarget(const std::string& target) {
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

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// A socket belongs to the namespace it was created in, for its whole life. So the calling
// thread enters the client's namespace only to create (and connect) the socket, then returns
// to its own, where corepind's 127.0.0.1 is. Call before starting any thread.
int OpenUdpInNetns(const std::string& netns, const sockaddr_in& target) {
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
bool WaitFor(double timeout_s, F ready) {
  const auto deadline = Clock::now() + FromMs(timeout_s * 1000);
  while (Clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ready();
}

// --- corepind -------------------------------------------------------------------------------

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The member whose role is ACT in a group view (docs/api.md); the bench needs exactly one.
std::string ActOf(const json& group) {
  std::string act;
  for (const auto& m : group.value("members", json::array()))
    if (Lower(m.value("role", "")) == "act") {
      if (!act.empty()) throw std::runtime_error("group " + group.value("name", "?") + " has several ACTs; the bench needs 1+1");
      act = m.value("vm", "");
    }
  if (act.empty()) throw std::runtime_error("no ACT in the group view: " + group.dump());
  return act;
}

class Corepind {
 public:
  Corepind(const std::string& url, bool tcp_nodelay) : http_(url) {
    http_.set_connection_timeout(5);
    http_.set_read_timeout(120);  // a switchover waits for the switch; never cut it short
    http_.set_keep_alive(true);   // one connection for every call: no connect in the timed call
    // cpp-httplib writes a request's headers and body in two writes. With Nagle's algorithm
    // the body waits for the ACK of the headers, which the server delays (~40 ms on Linux):
    // that would be timed as part of the switchover.
    http_.set_tcp_nodelay(tcp_nodelay);
  }

  json ShowGroup(const std::string& group) { return Call("GET", "/v1/groups/" + group, nullptr); }
  json Switchover(const std::string& group) { return Call("POST", "/v1/groups/" + group + "/switchover", "{}"); }

 private:
  json Call(const std::string& method, const std::string& path, const char* body) {
    auto res = body ? http_.Post(path.c_str(), body, "application/json") : http_.Get(path.c_str());
    if (!res) throw std::runtime_error(method + " " + path + ": no answer from corepind (" + httplib::to_string(res.error()) + ")");
    json j = json::parse(res->body, nullptr, false);
    if (res->status != 200)
      throw std::runtime_error(method + " " + path + " -> " + std::to_string(res->status) + ": " +
                               (j.is_object() && j.contains("error") ? j["error"].get<std::string>() : res->body));
    if (j.is_discarded()) throw std::runtime_error(method + " " + path + ": the answer is not JSON: " + res->body);
    return j;
  }

  httplib::Client http_;
};

// --- one switchover -------------------------------------------------------------------------

struct Round {
  std::string from, to;
  double answer_ms = 0;   // decision (t0) -> first answer from the new ACT (t1)
  double switch_ms = 0;   // the API's elapsed_ms: the switch step as the controller measures it
  double rest_ms = 0;     // the POST as the client sees it
  double gap_ms = -1;     // last answer from the old ACT after t0 -> t1 (-1: none after t0)
  long sent = 0, lost = 0;  // requests sent in [t0, t1 + margin] and those never answered
  std::string switch_summary;
};

Round Switchover(Corepind& api, Traffic& traffic, const Options& o, const std::string& act, int number) {
  if (!WaitFor(o.round_timeout_s, [&] { return traffic.Steady(act, o.steady_ms, o.late_ms); }))
    throw std::runtime_error("round " + std::to_string(number) + ": answers did not come steadily from " + act +
                             " within " + std::to_string(o.round_timeout_s) + " s");
  Round r;
  r.from = act;
  const auto t0 = Clock::now();  // the decision
  const json view = api.Switchover(o.group);
  r.rest_ms = MsBetween(t0, Clock::now());
  r.switch_ms = view.value("elapsed_ms", -1.0);
  r.switch_summary = view.value("switch", "");
  r.to = ActOf(view);
  if (r.to == act) throw std::runtime_error("round " + std::to_string(number) + ": the switchover answered 200 but " + act + " is still the ACT");

  std::optional<Traffic::Answer> first;
  if (!WaitFor(o.round_timeout_s, [&] { return (first = traffic.FirstAnswerBy(r.to, t0)).has_value(); })) {
    std::string who;
    for (const auto& n : traffic.AnsweredSince(t0)) who += " " + n;
    throw std::runtime_error("round " + std::to_string(number) + ": no answer from the new ACT " + r.to + " within " +
                             std::to_string(o.round_timeout_s) + " s after the switchover (answers since from:" +
                             (who.empty() ? " nobody" : who) + "); switch: " + r.switch_summary);
  }
  const auto t1 = first->at;
  r.answer_ms = MsBetween(t0, t1);
  // Losses: wait until every request of [t0, t1 + margin] has had late_ms to be answered.
  const auto window_end = t1 + FromMs(o.margin_ms);
  std::this_thread::sleep_until(window_end + FromMs(o.late_ms));
  const auto count = traffic.Unanswered(t0, window_end);
  r.sent = count.sent;
  r.lost = count.unanswered;
  if (auto last_old = traffic.LastAnswerBy(act, t0)) r.gap_ms = MsBetween(last_old->at, t1);
  for (const auto& n : traffic.AnsweredSince(t0))
    if (n != act && n != r.to) std::cerr << "warning: round " << number << ": answers from " << n << ", neither " << act << " nor " << r.to << "\n";
  return r;
}

// --- figures --------------------------------------------------------------------------------

struct Stats {
  double median = 0, p99 = 0, worst = 0;
};

// Nearest-rank percentiles (with 20..99 rounds, p99 is the worst round).
Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) { return v[std::max<size_t>(1, static_cast<size_t>(std::ceil(p * v.size()))) - 1]; };
  const size_t n = v.size();
  const double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {median, rank(0.99), v.back()};
}

template <typename F>
Stats StatsOf(const std::vector<Round>& rounds, F field) {
  std::vector<double> v;
  for (const auto& r : rounds) v.push_back(field(r));
  return Summarize(v);
}

std::string Fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void PrintRound(int number, const Round& r) {
  std::printf("%5d  %-14s -> %-14s %9.1f %9.2f %9.2f %9s %6ld/%ld\n", number, r.from.c_str(), r.to.c_str(), r.answer_ms,
              r.switch_ms, r.rest_ms, r.gap_ms < 0 ? "-" : Fixed(r.gap_ms).c_str(), r.lost, r.sent);
  std::fflush(stdout);
}

json Report(const std::vector<Round>& rounds, const Options& o) {
  json out = {{"group", o.group},         {"interval_ms", o.interval_ms}, {"margin_ms", o.margin_ms},
              {"late_ms", o.late_ms},     {"tcp_nodelay", o.tcp_nodelay == "on"}};
  json rs = json::array();
  for (const auto& r : rounds)
    rs.push_back({{"from", r.from}, {"to", r.to}, {"answer_ms", r.answer_ms}, {"switch_ms", r.switch_ms}, {"rest_ms", r.rest_ms},
                  {"gap_ms", r.gap_ms}, {"sent", r.sent}, {"lost", r.lost}, {"switch", r.switch_summary}});
  out["rounds"] = rs;
  return out;
}

// Returns whether the aim was met.
bool PrintSummary(const std::vector<Round>& rounds, const Options& o, json* report) {
  const Stats answer = StatsOf(rounds, [](const Round& r) { return r.answer_ms; });
  const Stats sw = StatsOf(rounds, [](const Round& r) { return r.switch_ms; });
  const Stats rest = StatsOf(rounds, [](const Round& r) { return r.rest_ms; });
  const Stats lost = StatsOf(rounds, [](const Round& r) { return static_cast<double>(r.lost); });
  const double rate = 1000.0 / o.interval_ms;
  std::printf("\nover %zu switchovers (p99: nearest rank)        median       p99     worst\n", rounds.size());
  auto line = [](const char* what, const Stats& s, int digits) {
    std::printf("%-44s %9s %9s %9s\n", what, Fixed(s.median, digits).c_str(), Fixed(s.p99, digits).c_str(), Fixed(s.worst, digits).c_str());
  };
  line("decision -> first answer from new ACT (ms)", answer, 1);
  line("switch step, API elapsed_ms (ms)", sw, 2);
  line("REST call POST .../switchover (ms)", rest, 2);
  char what[64];
  std::snprintf(what, sizeof what, "packets lost per switchover (at %.0f/s)", rate);
  line(what, lost, 1);

  const bool met = sw.p99 < o.aim_ms;
  std::printf("\nverdict: switch step p99 %s ms (median %s ms) %s the %s ms aim; a client hears the new ACT %s ms (median) after the decision, losing %s packets (median) at %.0f/s\n",
              Fixed(sw.p99, 2).c_str(), Fixed(sw.median, 2).c_str(), met ? "MEETS" : "MISSES", Fixed(o.aim_ms, 0).c_str(),
              Fixed(answer.median).c_str(), Fixed(lost.median).c_str(), rate);
  auto stats = [](const Stats& s) { return json{{"median", s.median}, {"p99", s.p99}, {"worst", s.worst}}; };
  (*report)["summary"] = {{"answer_ms", stats(answer)}, {"switch_ms", stats(sw)}, {"rest_ms", stats(rest)},
                          {"lost", stats(lost)}, {"aim_ms", o.aim_ms}, {"aim_met", met}};
  return met;
}

int Run(const Options& o) {
  const sockaddr_in target = ParseTarget(o.target);
  const int fd = OpenUdpInNetns(o.netns, target);  // before any thread starts
  Corepind api(o.api, o.tcp_nodelay == "on");
  std::string act = ActOf(api.ShowGroup(o.group));

  Traffic traffic(fd, o.interval_ms);
  traffic.Start();
  std::printf("lab_switchover_bench: group %s, service %s from netns %s, one request every %s ms, %d rounds, API %s (TCP_NODELAY %s)\n",
              o.group.c_str(), o.target.c_str(), o.netns.c_str(), Fixed(o.interval_ms, 3).c_str(), o.rounds, o.api.c_str(),
              o.tcp_nodelay.c_str());
  if (!WaitFor(o.first_answer_timeout_s, [&] { return traffic.FirstAnswerBy(act, Clock::time_point::min()).has_value(); }))
    throw std::runtime_error("no answer from the ACT " + act + " within " + Fixed(o.first_answer_timeout_s, 0) + " s");

  std::printf("round  from              -> to              answer_ms switch_ms   rest_ms    gap_ms   lost/sent\n");
  std::vector<Round> rounds;
  for (int i = 1; i <= o.rounds; ++i) {
    rounds.push_back(Switchover(api, traffic, o, act, i));
    PrintRound(i, rounds.back());
    act = rounds.back().to;
  }
  // The last requests have had late_ms to be answered (Switchover waited that long).
  const auto total = traffic.Total(Clock::now() - FromMs(o.late_ms));
  traffic.Stop();
  close(fd);

  json report = Report(rounds, o);
  const bool met = PrintSummary(rounds, o, &report);
  std::printf("all traffic: %ld requests sent, %ld unanswered, %ld send errors; switch: %s\n", total.sent, total.unanswered,
              traffic.send_errors(), rounds.back().switch_summary.c_str());
  report["total"] = {{"sent", total.sent}, {"unanswered", total.unanswered}, {"send_errors", traffic.send_errors()}};
  if (!o.json_out.empty()) std::ofstream(o.json_out) << report.dump(2) << "\n";
  return met ? 0 : 3;
}

}  // namespace

// Exit status: 0 the aim is met, 3 it is missed, 1 the benchmark could not run, 2 bad usage.
int main(int argc, char** argv) {
  Options o;
  try {
    o = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "lab_switchover_bench: " << e.what() << "\n";
    return 2;
  }
  try {
    return Run(o);
  } catch (const std::exception& e) {
    std::cerr << "lab_switchover_bench: " << e.what() << "\n";
    return 1;
  }
}
