// corepind: the corepin daemon. Opens the state store, starts the Controller (which resumes
// interrupted operations and reconciles), and serves the REST API until SIGTERM or SIGINT.
//
//   corepind [--db PATH] [--listen HOST:PORT] [--failures-tolerated K] [--switch URI]
//            [--reconcile-interval SECONDS] [--rank-weights nic=1,pack=1,spread=0.5] [--seed N]
//            [--probe-interval-ms MS] [--probe-misses N] [--fence-timeout-ms MS] [--repair-drift]
//
// Logs to stderr: one line per request (here), and one per event (by the Controller).
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "api/api_server.h"
#include "controller/controller.h"
#include "driver/hypervisor.h"
#include "driver/switch/switch_driver.h"
#include "store/sqlite_store.h"

namespace corepin {
namespace {

std::mutex log_mu;

// The largest k accepted, a sanity bound: the planner keeps every failure set of up to k hosts
// (their number grows as hosts^k). Whether the cluster can carry k is the planner's to say; it
// refuses, with the numbers, a group that would break the guarantee.
constexpr int kMaxFailuresTolerated = 8;

// "2024-05-01T12:00:00.123Z message", one line, whole.
void Log(const std::string& line) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t t = system_clock::to_time_t(now);
  const int ms = static_cast<int>(duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[80];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  std::lock_guard<std::mutex> lock(log_mu);
  std::cerr << stamp << " " << line << std::endl;
}

// "HOST:PORT" or "[V6ADDR]:PORT".
bool ParseListen(const std::string& text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = text.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  try {
    size_t used = 0;
    *port = std::stoi(text.substr(colon + 1), &used);
    return used == text.size() - colon - 1 && *port > 0 && *port < 65536;
  } catch (const std::exception&) {
    return false;
  }
}

// A whole non-negative decimal number, at most `max`.
bool ParseCount(const std::string& text, int max, int* out) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  *out = std::stoi(text);
  return *out <= max;
}

// "nic=1,pack=1,spread=0.5" into the scheduler's ranking weights; parts left out keep their default.
bool ParseWeights(const std::string& text, RankWeights* w) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) return false;
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0' || v < 0 || v > 100) return false;
    if (key == "nic") w->nic = v;
    else if (key == "pack") w->pack = v;
    else if (key == "spread") w->spread = v;
    else return false;
  }
  return true;
}

int Main(int argc, char** argv) {
  CLI::App app{"corepind: the corepin daemon (pins every vCPU of KVM VMs to exact pCPUs via libvirt)"};
  std::string db = "/var/lib/corepin/corepin.db";
  std::string listen = "127.0.0.1:7480";
  app.add_option("--db", db, "SQLite state file (its directory is created)")->capture_default_str();
  app.add_option("--listen", listen, "address to serve the REST API on, HOST:PORT")->capture_default_str();
  // Taken as text and checked below, so that a bad value gets corepind's message and exit 2.
  std::string failures = "1";
  std::string switch_uri = "none";
  app.add_option("--failures-tolerated", failures,
                 "k: simultaneous host failures the healing reserve covers (0 turns the reserve off)")
      ->type_name("K")
      ->capture_default_str();
  app.add_option("--switch", switch_uri,
                 "switch driver URI: none, ovsdb:unix:/var/run/openvswitch/db.sock or ovsdb:tcp:HOST:PORT")
      ->type_name("URI")
      ->capture_default_str();
  std::string reconcile = "10";
  app.add_option("--reconcile-interval", reconcile,
                 "seconds between background reconciles of hypervisors and switch (0: only on request); a port "
                 "changed by hand on the switch is reconciled at once")
      ->type_name("SECONDS")
      ->capture_default_str();
  std::string weights = "nic=1,pack=1,spread=0.5";
  app.add_option("--rank-weights", weights,
                 "how hosts are ranked: NIC locality, best-fit packing, spreading the ACTs of different groups")
      ->type_name("nic=W,pack=W,spread=W")
      ->capture_default_str();
  std::string probe_ms = "100", probe_misses = "5";
  app.add_option("--probe-interval-ms", probe_ms, "probe every host's hypervisor this often (0: no host monitor)")
      ->capture_default_str();
  app.add_option("--probe-misses", probe_misses, "a host silent for this many probes is suspected")->capture_default_str();
  std::string fence_timeout = "10000";
  app.add_option("--fence-timeout-ms", fence_timeout, "how long a BMC may take to confirm a power-off before the healing stops and asks for a person")
      ->capture_default_str();
  bool repair_drift = false;
  app.add_flag("--repair-drift", repair_drift,
               "re-pin a VM whose pinning drifted (virsh vcpupin or emulatorpin by hand) back to its assignment, live; "
               "without it the reconcile raises an alarm.pinning-drift event");
  std::string seed = "1";
  app.add_option("--seed", seed, "seed of the tie-breaks between equal hosts (placements are deterministic for a seed)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints the message (or the help)
    return code == 0 ? 0 : 2;      // an unknown option is a bad invocation, as a bad value is
  }

  std::string host;
  int port = 0;
  if (!ParseListen(listen, &host, &port)) {
    std::cerr << "corepind: --listen " << listen << ": expected HOST:PORT, e.g. 127.0.0.1:7480\n";
    return 2;
  }
  ControllerOptions options;
  if (!ParseCount(failures, kMaxFailuresTolerated, &options.failures_tolerated)) {
    std::cerr << "corepind: --failures-tolerated " << failures << ": expected a whole number of hosts 0.."
              << kMaxFailuresTolerated << " (the default is 1: any single host failure is healed)\n";
    return 2;
  }
  // Only the URI's form is checked here; the switch is first contacted by Start's reconcile.
  if (auto sw = OpenSwitchDriver(switch_uri); !sw.ok()) {
    std::cerr << "corepind: --switch: " << sw.error().message << "\n";  // names the URI and the forms
    return 2;
  }
  options.switch_uri = switch_uri;
  int reconcile_s = 0;
  if (!ParseCount(reconcile, 86400, &reconcile_s)) {
    std::cerr << "corepind: --reconcile-interval " << reconcile << ": expected whole seconds 0..86400 (default 10)\n";
    return 2;
  }
  options.reconcile_interval_ms = reconcile_s * 1000;
  if (!ParseWeights(weights, &options.weights)) {
    std::cerr << "corepind: --rank-weights " << weights
              << ": expected nic=W,pack=W,spread=W with each W a number 0..100 (any of the three may be left out)\n";
    return 2;
  }
  if (!ParseCount(probe_ms, 60000, &options.probe_interval_ms) || !ParseCount(probe_misses, 1000, &options.probe_misses) ||
      options.probe_misses < 1) {
    std::cerr << "corepind: --probe-interval-ms " << probe_ms << " / --probe-misses " << probe_misses
              << ": expected 0..60000 ms and 1..1000 probes (defaults 100 and 5)\n";
    return 2;
  }
  if (!ParseCount(fence_timeout, 600000, &options.fence_timeout_ms) || options.fence_timeout_ms < 100) {
    std::cerr << "corepind: --fence-timeout-ms " << fence_timeout << ": expected 100..600000 ms (default 10000)\n";
    return 2;
  }
  // Testing only (tests/lab/heal_resume.sh): exit at a named point of a healing.
  if (const char* point = std::getenv("COREPIN_CRASH_POINT")) options.crash_point = point;
  int seed_value = 0;
  if (!ParseCount(seed, 999999999, &seed_value)) {
    std::cerr << "corepind: --seed " << seed << ": expected a whole number\n";
    return 2;
  }
  options.seed = static_cast<uint64_t>(seed_value);
  options.repair_drift = repair_drift;

  // Block the stop signals in every thread (they inherit the mask) and take them in one
  // thread with sigwait, so that no handler runs at an arbitrary point.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client hanging up mid-reply must not kill the daemon

  const std::filesystem::path db_path(db);
  if (db_path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(db_path.parent_path(), ec);
    if (ec) {
      std::cerr << "corepind: cannot create " << db_path.parent_path() << ": " << ec.message() << "\n";
      return 1;
    }
  }
  auto store = OpenSqliteStore(db);
  if (!store.ok()) {
    std::cerr << "corepind: cannot open the state store " << db << ": " << store.error().message << "\n";
    return 1;
  }
  Log("state store " + db);
  // Fixture hosts' domains belong with this state, not with another corepind's (unless told).
  const auto fixture_dir = std::filesystem::absolute(db_path).parent_path() / "fixture-hosts";
  setenv("COREPIN_FIXTURE_STATE_DIR", fixture_dir.c_str(), /*overwrite=*/0);

  // The Controller itself logs each event it records, and Start's summary, to stderr.
  Controller controller(store->get(), [](const std::string& uri) { return ConnectHypervisor(uri); }, options);
  // Bind before Start: a second corepind on a busy port must fail before it touches any host.
  ApiServer api(controller, [](const std::string& line) { Log(line); });
  auto bound = api.Bind(host, port);
  if (!bound.ok()) {
    std::cerr << "corepind: " << bound.error().message << "\n";
    return 1;
  }
  Status started = controller.Start();
  if (!started.ok()) {
    std::cerr << "corepind: start failed: " << started.error().message << "\n";
    return 1;
  }

  Log("serving the API on http://" + listen + " (failures tolerated: " + std::to_string(options.failures_tolerated) +
      ", switch: " + switch_uri + ")");

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    Log(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
    api.Stop();
  });

  Status served = api.Serve();
  // Serve can also end on its own (an error): wake the signal thread so that it can be joined.
  if (!served.ok()) {
    Log("corepind: " + served.error().message);
    kill(getpid(), SIGTERM);
  }
  signal_thread.join();
  Log("stopped");
  return served.ok() ? 0 : 1;
}

}  // namespace
}  // namespace corepin

int main(int argc, char** argv) { return corepin::Main(argc, argv); }
