// corepind: the corepin daemon. Opens the state store, starts the Controller (which resumes
// interrupted operations and reconciles), and serves the REST API until SIGTERM or SIGINT.
//
//   corepind [--config FILE] [--db PATH] [--listen HOST:PORT] [--failures-tolerated K] [--switch URI]
//            [--reconcile-interval SECONDS] [--rank-weights nic=1,pack=1,spread=0.5] [--seed N]
//            [--probe-interval-ms MS] [--probe-misses N] [--fence-timeout-ms MS] [--repair-drift]
//            [--init] [--allow-simulated-hosts] [--allow-tcp-hosts] [--api-hostname NAME]... [--max-body-bytes N]
//
// Logs to stderr: one line per request (here), and one per event (by the Controller).
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "api/api_server.h"
#include "daemon/daemon_options.h"
#include "controller/controller.h"
#include "driver/hypervisor.h"
#include "driver/switch/switch_driver.h"
#include "store/secret_box.h"
#include "store/sqlite_store.h"

namespace corepin {
namespace {

std::mutex log_mu;

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

// The state, opened: its directory (0700) and files (0600), checked that it is one (a lost state
// is refused unless --init), and the key that seals its secrets.
struct OpenedState {
  SecretBox secrets;
  std::unique_ptr<StateStore> store;
};

Result<OpenedState> OpenState(const DaemonSettings& s) {
  // The state holds BMC credentials and the whole cluster's layout: readable by root only.
  umask(0077);
  const std::filesystem::path db_path(s.db);
  if (db_path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(db_path.parent_path(), ec);
    if (ec) return Unavailable("cannot create " + db_path.parent_path().string() + ": " + ec.message());
  }
  if (Status checked = CheckSqliteStateFile(s.db, s.init); !checked.ok()) return checked.error();
  // BMC passwords are sealed in the state with a key of their own, next to it.
  const std::string key_file = (db_path.has_parent_path() ? db_path.parent_path() / "secrets.key" : "secrets.key").string();
  auto secrets = SecretBox::OpenOrCreate(key_file);
  if (!secrets.ok()) return secrets.error();
  auto store = OpenSqliteStore(s.db);
  for (const std::string& file : {s.db, s.db + "-wal", s.db + "-shm"}) chmod(file.c_str(), 0600);  // an older corepind's 0644
  if (!store.ok()) return Unavailable("cannot open the state store " + s.db + ": " + store.error().message);
  return OpenedState{std::move(*secrets), std::move(*store)};
}

int Main(int argc, char** argv) {
  int exit_status = 0;
  auto parsed = ParseDaemonOptions(argc, argv, &exit_status);
  if (!parsed.ok()) return exit_status;
  DaemonSettings& s = *parsed;
  const std::string& db = s.db;
  const std::string& listen = s.listen;
  ControllerOptions& options = s.controller;
  const ApiOptions& api_options = s.api;

  // Block the stop signals in every thread (they inherit the mask) and take them in one
  // thread with sigwait, so that no handler runs at an arbitrary point.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client hanging up mid-reply must not kill the daemon

  auto state = OpenState(s);
  if (!state.ok()) {
    std::cerr << "corepind: " << state.error().message << "\n";
    return 1;
  }
  options.secrets = &state->secrets;
  auto& store = state->store;
  const std::filesystem::path db_path(db);
  Log("state store " + db);
  // Fixture hosts' domains belong with this state, not with another corepind's (unless told).
  const auto fixture_dir = std::filesystem::absolute(db_path).parent_path() / "fixture-hosts";
  setenv("COREPIN_FIXTURE_STATE_DIR", fixture_dir.c_str(), /*overwrite=*/0);

  // The Controller itself logs each event it records, and Start's summary, to stderr.
  Controller controller(store.get(), [](const std::string& uri) { return ConnectHypervisor(uri); }, options);
  // Bind before Start: a second corepind on a busy port must fail before it touches any host.
  ApiServer api(controller, [](const std::string& line) { Log(line); }, api_options);
  auto bound = api.Bind(s.listen_host, s.listen_port);
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
      ", switch: " + options.switch_uri + (s.config_file.empty() ? "" : ", config " + s.config_file) + ")");

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
