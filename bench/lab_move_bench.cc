// lab_move_bench: the downtime of a live migration (issue 7), in the lab, as a client of the
// service sees it. bench/lab_move.sh sets everything up (lab of 4 hosts, each with a migration
// address, corepind, a 1+1 group of the lab guest on the service VLAN, a client namespace on
// that VLAN; see bench/lab_switchover.sh, KIND=move) and runs this.
//
// Each round, with requests flowing steadily to the ACT (one every --interval-ms):
//   t0       POST /v1/vms/ACT/move {"mode": "live"}: no host named, placement picks the best one
//            the group allows (never the SBY's, nor the reserve's pCPUs), so the ACT goes back
//            and forth between the hosts left free;
//   reply    the call returns: the VM view with "moved": {from, to, mode, took_ms, operation};
//   window   [t0, reply + --after-ms]; the figures, from the client's side:
//            downtime  the longest gap between consecutive answers by the ACT around the window
//                      (from its last answer before t0 to its first one after the window), i.e.
//                      the longest the client heard nothing from it: the guest paused for the
//                      last pages, its port moving, the ToR relearning its MAC;
//            at        when that gap began, in ms after t0;
//            lost      requests sent in the window never answered (within --late-ms);
//            api       the REST call's duration; took_ms the migration as corepind timed it;
//            qemu      with --lab-status: the hypervisor's own figures for the migration just
//                      done (virsh domjobinfo --completed on the target): its time and the
//                      guest's downtime, the pause QEMU measured (without the network's part);
//   check    GET /v1/vms/ACT: running on a new host (the one the reply named), pinning verified.
// Prints each round, then median, p99 (nearest rank: the worst of fewer than 100) and worst, and a
// verdict against the downtime limit a live migration aims for: QEMU's default, 300 ms, which
// libvirt keeps unless told (with --lab-status, the value virsh migrate-getmaxdowntime reads for
// the ACT). No aim in the issue; the lab's guests run under TCG here, which slows both the copy
// and the guest.
//
//   lab_move_bench --api URL --group NAME --netns NETNS [--lab-status FILE] [--rounds 10] [--json PATH]
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <tuple>

#include "lab_traffic.h"

namespace {

using nlohmann::json;
using namespace lab_bench;

struct Options {
  std::string api, group, netns, lab_status, json_out;
  std::string target = "198.18.0.10:7777";
  double interval_ms = 2;
  int rounds = 10;
  double steady_ms = 300;        // answers from the ACT for this long before a move
  double late_ms = 100;          // an answer later than this counts as lost
  double after_ms = 1000;        // the window ends this long after the reply
  double settle_s = 1;           // pause between rounds
  double round_timeout_s = 60;   // steadiness before a move; answers again after it
  double reference_ms = -1;     // -1: libvirt's limit for the ACT if read, else 300 (QEMU's default)
};

const char kUsage[] =
    "usage: lab_move_bench --api URL --group NAME --netns NETNS [options]\n"
    "  --lab-status FILE       lab status --json: virsh on the lab's hosts reads QEMU's own figures\n"
    "                          (domjobinfo --completed) and the downtime limit (migrate-getmaxdowntime)\n"
    "  --target IP:PORT        the service (default 198.18.0.10:7777)\n"
    "  --interval-ms MS        one request every MS (default 2)\n"
    "  --rounds N              live moves of the ACT, at least 10 (default 10)\n"
    "  --steady-ms MS          steady answers from the ACT before each move (default 300)\n"
    "  --late-ms MS            an answer later than this is a loss (default 100)\n"
    "  --after-ms MS           the measured window ends MS after the API's reply (default 1000)\n"
    "  --settle-s S            pause between rounds (default 1)\n"
    "  --round-timeout-s S     per round: steadiness before, answers after (default 60)\n"
    "  --reference-ms MS       the verdict's reference for the downtime (default: libvirt's max\n"
    "                          downtime for the ACT when read, else 300, QEMU's default)\n"
    "  --json PATH             write the rounds and the summary as JSON\n";

Options ParseArgs(int argc, char** argv) {
  Options o;
  std::map<std::string, std::string*> text = {{"--api", &o.api},       {"--group", &o.group},   {"--netns", &o.netns},
                                              {"--json", &o.json_out}, {"--target", &o.target},
                                              {"--lab-status", &o.lab_status}};
  std::map<std::string, double*> number = {{"--interval-ms", &o.interval_ms}, {"--steady-ms", &o.steady_ms},
                                           {"--late-ms", &o.late_ms},         {"--after-ms", &o.after_ms},
                                           {"--settle-s", &o.settle_s},       {"--round-timeout-s", &o.round_timeout_s},
                                           {"--reference-ms", &o.reference_ms}};
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
      if (used != value.size() || !(*n->second >= 0)) throw std::runtime_error(flag + " " + value + ": expected a number >= 0");
    } else if (flag == "--rounds") {
      o.rounds = std::atoi(value.c_str());
    } else {
      throw std::runtime_error("unknown option " + flag + "\n" + kUsage);
    }
  }
  if (o.api.empty() || o.group.empty() || o.netns.empty())
    throw std::runtime_error(std::string("--api, --group and --netns are required\n") + kUsage);
  if (!(o.interval_ms > 0)) throw std::runtime_error("--interval-ms: must be > 0");
  if (o.rounds < 10) throw std::runtime_error("--rounds " + std::to_string(o.rounds) + ": at least 10");
  return o;
}

struct Round {
  std::string from, to;       // hosts
  double api_ms = 0;          // POST .../move, as the client sees it
  double took_ms = 0;         // the reply's moved.took_ms (the migration, timed by corepind)
  double downtime_ms = 0;     // the longest gap between the ACT's answers around the window
  double gap_at_ms = 0;       // when that gap began, after t0
  double qemu_ms = -1;        // domjobinfo --completed on the target: "Time elapsed" (-1: unknown)
  double qemu_down_ms = -1;   // and "Total downtime"
  long sent = 0, lost = 0;    // requests sent in the window, those never answered
  std::string operation;
};

std::string RoundText(int number) { return "round " + std::to_string(number); }

// Runs a command (no shell) and returns what it wrote on stdout; "" if it failed.
std::string Capture(const std::vector<std::string>& argv) {
  // Built before fork: the child of a threaded process may only make async-signal-safe calls.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) return "";
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  if (pid < 0) {
    close(out[0]);
    return "";
  }
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? text : "";
}

// The lab's hosts (lab status --json), to ask their libvirtds with virsh; empty without --lab-status.
class LabHosts {
 public:
  explicit LabHosts(const std::string& status_file) {
    if (status_file.empty()) return;
    std::ifstream in(status_file);
    if (!in) throw std::runtime_error("--lab-status " + status_file + ": cannot read it");
    for (const auto& h : json::parse(in).value("hosts", json::array())) uris_[h.value("name", "")] = h.value("uri", "");
  }

  // "Time elapsed" and "Total downtime" (ms) of the migration that brought `vm` to `host`, as
  // libvirt reports the completed job there; -1 each when unknown.
  std::pair<double, double> CompletedMigration(const std::string& host, const std::string& vm) const {
    const std::string text = Virsh(host, {"domjobinfo", vm, "--completed"});
    return {Field(text, "Time elapsed:"), Field(text, "Total downtime:")};
  }

  // virsh migrate-getmaxdowntime: the pause the migration of `vm` aims for (ms), -1 when unknown.
  double MaxDowntime(const std::string& host, const std::string& vm) const {
    const std::string text = Virsh(host, {"migrate-getmaxdowntime", vm});
    return text.empty() ? -1 : std::atof(text.c_str());
  }

 private:
  std::string Virsh(const std::string& host, std::vector<std::string> args) const {
    auto it = uris_.find(host);
    if (it == uris_.end()) return "";
    args.insert(args.begin(), {"virsh", "-q", "-c", it->second});
    return Capture(args);
  }
  static double Field(const std::string& text, const std::string& label) {
    const size_t at = text.find(label);
    return at == std::string::npos ? -1 : std::atof(text.c_str() + at + label.size());
  }
  std::map<std::string, std::string> uris_;
};

Round Move(Api& api, Traffic& traffic, const LabHosts& lab, const Options& o, const std::string& act, int number) {
  Round r;
  r.from = api.Get("/v1/vms/" + act).value("host", "");
  if (!WaitFor(o.round_timeout_s, [&] { return traffic.Steady(act, o.steady_ms, o.late_ms); }))
    throw std::runtime_error(RoundText(number) + ": answers did not come steadily from " + act + " on " + r.from + " within " +
                             Fixed(o.round_timeout_s, 0) + " s");

  const auto t0 = Clock::now();
  const json view = api.Post("/v1/vms/" + act + "/move", R"({"mode": "live"})");
  const auto reply = Clock::now();
  r.api_ms = MsBetween(t0, reply);
  const json moved = view.value("moved", json::object());
  r.to = moved.value("to", "");
  r.took_ms = moved.value("took_ms", -1.0);
  r.operation = moved.value("operation", "");
  if (moved.value("from", "") != r.from || r.to.empty() || r.to == r.from || moved.value("mode", "") != "live")
    throw std::runtime_error(RoundText(number) + ": the move of " + act + " from " + r.from + " answered " + moved.dump());

  // The window, then the ACT's first answer after it (it closes a silence still open at the end).
  const auto window_end = reply + FromMs(o.after_ms);
  std::this_thread::sleep_until(window_end);
  if (!WaitFor(o.round_timeout_s, [&] { return traffic.FirstAnswerBy(act, window_end).has_value(); })) {
    std::string who;
    for (const auto& n : traffic.AnsweredSince(t0)) who += " " + n;
    throw std::runtime_error(RoundText(number) + ": no answer from " + act + " within " + Fixed(o.round_timeout_s, 0) +
                             " s after its move to " + r.to + " (answers since the call from:" + (who.empty() ? " nobody" : who) + ")");
  }
  const auto times = traffic.AnswerTimesAround(act, t0, window_end);
  for (size_t i = 1; i < times.size(); ++i)
    if (const double gap = MsBetween(times[i - 1], times[i]); gap > r.downtime_ms) {
      r.downtime_ms = gap;
      r.gap_at_ms = MsBetween(t0, times[i - 1]);
    }
  std::this_thread::sleep_until(window_end + FromMs(o.late_ms));
  const auto count = traffic.Unanswered(t0, window_end);
  r.sent = count.sent;
  r.lost = count.unanswered;
  for (const auto& n : traffic.AnsweredSince(t0))
    if (n != act) std::cerr << "warning: " << RoundText(number) << ": answers from " << n << " too, not only the ACT " << act << "\n";

  const json after = api.Get("/v1/vms/" + act);
  const json verified = after.value("pinning_verified", json());
  if (after.value("host", "") != r.to || after.value("state", "") != "running" || verified != true)
    throw std::runtime_error(RoundText(number) + ": after the move to " + r.to + ", " + act + " is " + after.value("state", "?") +
                             " on " + after.value("host", "?") + ", pinning_verified " + verified.dump() +
                             (after.contains("differences") ? ", differences " + after["differences"].dump() : ""));
  std::tie(r.qemu_ms, r.qemu_down_ms) = lab.CompletedMigration(r.to, act);
  return r;
}

std::string OrDash(double v, int digits) { return v < 0 ? "-" : Fixed(v, digits); }

void PrintRound(int number, const Round& r) {
  std::printf("%5d  %-4s -> %-4s %9s %9s %9s %9s %11s %9s %6ld/%ld\n", number, r.from.c_str(), r.to.c_str(), Fixed(r.api_ms, 1).c_str(),
              Fixed(r.took_ms, 0).c_str(), OrDash(r.qemu_ms, 0).c_str(), OrDash(r.qemu_down_ms, 0).c_str(), Fixed(r.downtime_ms, 1).c_str(),
              Fixed(r.gap_at_ms, 0).c_str(), r.lost, r.sent);
  std::fflush(stdout);
}

int Main(const Options& o) {
  const sockaddr_in target = ParseTarget(o.target);
  const int fd = OpenUdpInNetns(o.netns, target);  // before any thread starts
  Api api(o.api);
  const std::string act = ActOf(api.Get("/v1/groups/" + o.group));
  const LabHosts lab(o.lab_status);
  const double limit = lab.MaxDowntime(api.Get("/v1/vms/" + act).value("host", ""), act);
  const double reference = o.reference_ms >= 0 ? o.reference_ms : limit > 0 ? limit : 300;
  const std::string reference_text = o.reference_ms >= 0 ? "the reference given"
                                     : limit > 0         ? "libvirt's max downtime for " + act + ", virsh migrate-getmaxdowntime"
                                                         : "QEMU's default downtime limit, which libvirt keeps";
  Traffic traffic(fd, o.interval_ms);
  traffic.Start();
  std::printf("lab_move_bench: group %s, ACT %s, service %s from netns %s, one request every %s ms, %d rounds: live move of the ACT "
              "(POST /v1/vms/%s/move {\"mode\": \"live\"}, placement picks the host)\n",
              o.group.c_str(), act.c_str(), o.target.c_str(), o.netns.c_str(), Fixed(o.interval_ms, 1).c_str(), o.rounds, act.c_str());
  if (limit > 0) std::printf("libvirt's max downtime for %s (the pause a migration aims for): %s ms\n", act.c_str(), Fixed(limit, 0).c_str());
  std::printf("round  from -> to      api_ms   took_ms   qemu_ms qemu_down downtime_ms    gap_at   lost/sent\n");
  std::vector<Round> rounds;
  for (int i = 1; i <= o.rounds; ++i) {
    rounds.push_back(Move(api, traffic, lab, o, act, i));
    PrintRound(i, rounds.back());
    std::this_thread::sleep_for(FromMs(o.settle_s * 1000));
  }
  const auto total = traffic.Total(Clock::now() - FromMs(o.late_ms));
  traffic.Stop();
  close(fd);

  const Stats down = StatsOf(rounds, [](const Round& r) { return r.downtime_ms; });
  const Stats lost = StatsOf(rounds, [](const Round& r) { return r.lost; });
  const Stats api_ms = StatsOf(rounds, [](const Round& r) { return r.api_ms; });
  const Stats took = StatsOf(rounds, [](const Round& r) { return r.took_ms; });
  const Stats qemu = StatsOf(rounds, [](const Round& r) { return r.qemu_ms; });
  const Stats qemu_down = StatsOf(rounds, [](const Round& r) { return r.qemu_down_ms; });
  const bool have_qemu = std::all_of(rounds.begin(), rounds.end(), [](const Round& r) { return r.qemu_ms >= 0 && r.qemu_down_ms >= 0; });
  const double rate = 1000.0 / o.interval_ms;
  std::printf("\nover %zu live moves (p99: nearest rank)             median       p99     worst\n", rounds.size());
  auto line = [](const std::string& what, const Stats& s, int digits) {
    std::printf("%-48s %9s %9s %9s\n", what.c_str(), Fixed(s.median, digits).c_str(), Fixed(s.p99, digits).c_str(), Fixed(s.worst, digits).c_str());
  };
  line("downtime: longest silence of the ACT (ms)", down, 1);
  if (have_qemu) line("  QEMU's downtime, domjobinfo (ms)", qemu_down, 0);
  line("requests lost per move (at " + Fixed(rate, 0) + "/s)", lost, 0);
  line("REST call POST .../move (ms)", api_ms, 1);
  line("  migration, the reply's took_ms (ms)", took, 0);
  if (have_qemu) line("  QEMU's migration time, domjobinfo (ms)", qemu, 0);
  std::printf("(downtime: the longest gap between the ACT's answers from its last before the call to its first after\n"
              " the window = call .. reply + %s ms; gap_at: when it began, ms after the call; qemu_*: the hypervisor's\n"
              " figures for the same migration, virsh domjobinfo --completed on the target)\n",
              Fixed(o.after_ms, 0).c_str());
  std::printf("all traffic: %ld requests sent, %ld unanswered, %ld send errors\n", total.sent, total.unanswered, traffic.send_errors());

  const bool within = down.p99 <= reference;
  std::printf("\nverdict: live-migration downtime p99 %s ms (median %s ms, worst %s ms) as the client sees it%s: %s the %s ms reference "
              "(%s; no aim in the issue); guests run under TCG on this machine, which slows the copy and the guest\n",
              Fixed(down.p99, 1).c_str(), Fixed(down.median, 1).c_str(), Fixed(down.worst, 1).c_str(),
              have_qemu ? (", QEMU's own median " + Fixed(qemu_down.median, 0) + " ms").c_str() : "", within ? "WITHIN" : "OVER",
              Fixed(reference, 0).c_str(), reference_text.c_str());

  if (!o.json_out.empty()) {
    json report = {{"group", o.group}, {"vm", act}, {"interval_ms", o.interval_ms}, {"after_ms", o.after_ms}, {"late_ms", o.late_ms},
                   {"rounds", json::array()}};
    for (const auto& r : rounds)
      report["rounds"].push_back({{"from", r.from}, {"to", r.to}, {"api_ms", r.api_ms}, {"took_ms", r.took_ms},
                                  {"downtime_ms", r.downtime_ms}, {"gap_at_ms", r.gap_at_ms}, {"qemu_ms", r.qemu_ms},
                                  {"qemu_downtime_ms", r.qemu_down_ms}, {"sent", r.sent}, {"lost", r.lost},
                                  {"operation", r.operation}});
    report["summary"] = {{"downtime_ms", ToJson(down)}, {"lost", ToJson(lost)},           {"api_ms", ToJson(api_ms)},
                         {"took_ms", ToJson(took)},     {"reference_ms", reference},      {"within_reference", within}};
    if (have_qemu) report["summary"]["qemu_ms"] = ToJson(qemu), report["summary"]["qemu_downtime_ms"] = ToJson(qemu_down);
    if (limit > 0) report["max_downtime_ms"] = limit;
    report["total"] = {{"sent", total.sent}, {"unanswered", total.unanswered}, {"send_errors", traffic.send_errors()}};
    std::ofstream(o.json_out) << report.dump(2) << "\n";
  }
  return within ? 0 : 3;
}

}  // namespace

// Exit status: 0 the downtime's p99 is within the reference, 3 it is over, 1 the benchmark could
// not run, 2 bad usage.
int main(int argc, char** argv) {
  Options o;
  try {
    o = ParseArgs(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "lab_move_bench: " << e.what() << "\n";
    return 2;
  }
  try {
    return Main(o);
  } catch (const std::exception& e) {
    std::cerr << "lab_move_bench: " << e.what() << "\n";
    return 1;
  }
}
