#include "daemon/daemon_options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "daemon/config_file.h"
#include "driver/switch/switch_driver.h"

namespace corepin {
namespace {

// The largest k accepted, a sanity bound: the planner keeps every failure set of up to k hosts
// (their number grows as hosts^k). Whether the cluster can carry k is the planner's to say; it
// refuses, with the numbers, a group that would break the guarantee.
constexpr int kMaxFailuresTolerated = 8;

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

// The options as text (checked below, so that a bad value gets corepind's own message).
struct Flags {
  std::string config;
  std::string db = "/var/lib/corepin/corepin.db";
  std::string listen = "127.0.0.1:7480";
  std::string failures = "1";
  std::string switch_uri = "none";
  std::string reconcile = "10";
  std::string weights = "nic=1,pack=1,spread=0.5";
  std::string probe_ms = "100", probe_misses = "5";
  std::string fence_timeout = "10000";
  std::string max_body = "1048576";
  std::string seed = "1";
  bool repair_drift = false, allow_simulated = false, allow_tcp = false, init = false;
  std::vector<std::string> api_hostnames;
};

void Define(CLI::App& app, Flags& f) {
  app.add_option("--config", f.config,
                 "a YAML file of options (/etc/corepin/corepind.conf for the service), one key per option without its "
                 "dashes; the command line wins")
      ->type_name("FILE");
  app.add_option("--db", f.db, "SQLite state file (its directory is created)")->capture_default_str();
  app.add_option("--listen", f.listen, "address to serve the REST API on, HOST:PORT")->capture_default_str();
  app.add_option("--failures-tolerated", f.failures,
                 "k: simultaneous host failures the healing reserve covers (0 turns the reserve off)")
      ->type_name("K")
      ->capture_default_str();
  app.add_option("--switch", f.switch_uri,
                 "switch driver URI: none, ovsdb:unix:/var/run/openvswitch/db.sock or ovsdb:tcp:HOST:PORT")
      ->type_name("URI")
      ->capture_default_str();
  app.add_option("--reconcile-interval", f.reconcile,
                 "seconds between background reconciles of hypervisors and switch (0: only on request); a port "
                 "changed by hand on the switch is reconciled at once")
      ->type_name("SECONDS")
      ->capture_default_str();
  app.add_option("--rank-weights", f.weights,
                 "how hosts are ranked: NIC locality, best-fit packing, spreading the ACTs of different groups")
      ->type_name("nic=W,pack=W,spread=W")
      ->capture_default_str();
  app.add_option("--probe-interval-ms", f.probe_ms, "probe every host's hypervisor this often (0: no host monitor)")
      ->capture_default_str();
  app.add_option("--probe-misses", f.probe_misses, "a host silent for this many probes is suspected")->capture_default_str();
  app.add_option("--fence-timeout-ms", f.fence_timeout,
                 "how long a BMC may take to confirm a power-off before the healing stops and asks for a person")
      ->capture_default_str();
  app.add_flag("--repair-drift", f.repair_drift,
               "re-pin a VM whose pinning drifted (virsh vcpupin or emulatorpin by hand) back to its assignment, live; "
               "without it the reconcile raises an alarm.pinning-drift event");
  app.add_flag("--allow-simulated-hosts", f.allow_simulated,
               "take host URIs of simulated hosts (fixture:, libvirt's test:///) for tests and demos; never in production");
  app.add_flag("--allow-tcp-hosts", f.allow_tcp,
               "take qemu+tcp:// host URIs (libvirt's unencrypted, unauthenticated transport); prefer ssh or tls");
  app.add_option("--api-hostname", f.api_hostnames,
                 "a DNS name clients use for this corepind (the Host header); IP addresses and localhost are always taken")
      ->type_name("NAME");
  app.add_option("--max-body-bytes", f.max_body, "largest request body taken (413 beyond)")->capture_default_str();
  app.add_flag("--init", f.init,
               "start with an empty state in a state file that exists but holds none (0 bytes, or no tables); without it "
               "such a file is refused, since it usually means the state was lost");
  app.add_option("--seed", f.seed, "seed of the tie-breaks between equal hosts (placements are deterministic for a seed)")
      ->capture_default_str();
}

struct OptionError {
  std::string option;  // without dashes
  std::string message;
};

// Checks each value into the settings; the first bad one is the error.
std::optional<OptionError> Check(const Flags& f, DaemonSettings* s) {
  s->db = f.db;
  s->listen = f.listen;
  s->init = f.init;
  s->config_file = f.config;
  if (!ParseListen(f.listen, &s->listen_host, &s->listen_port))
    return OptionError{"listen", "--listen " + f.listen + ": expected HOST:PORT, e.g. 127.0.0.1:7480"};
  ControllerOptions& c = s->controller;
  if (!ParseCount(f.failures, kMaxFailuresTolerated, &c.failures_tolerated))
    return OptionError{"failures-tolerated", "--failures-tolerated " + f.failures + ": expected a whole number of hosts 0.." +
                                                 std::to_string(kMaxFailuresTolerated) +
                                                 " (the default is 1: any single host failure is healed)"};
  // Only the URI's form is checked here; the switch is first contacted by Start's reconcile.
  if (auto sw = OpenSwitchDriver(f.switch_uri); !sw.ok()) return OptionError{"switch", "--switch: " + sw.error().message};
  c.switch_uri = f.switch_uri;
  int reconcile_s = 0;
  if (!ParseCount(f.reconcile, 86400, &reconcile_s))
    return OptionError{"reconcile-interval", "--reconcile-interval " + f.reconcile + ": expected whole seconds 0..86400 (default 10)"};
  c.reconcile_interval_ms = reconcile_s * 1000;
  if (!ParseWeights(f.weights, &c.weights))
    return OptionError{"rank-weights", "--rank-weights " + f.weights +
                                           ": expected nic=W,pack=W,spread=W with each W a number 0..100 (any of the three may be left out)"};
  if (!ParseCount(f.probe_ms, 60000, &c.probe_interval_ms))
    return OptionError{"probe-interval-ms", "--probe-interval-ms " + f.probe_ms + ": expected 0..60000 ms (default 100)"};
  if (!ParseCount(f.probe_misses, 1000, &c.probe_misses) || c.probe_misses < 1)
    return OptionError{"probe-misses", "--probe-misses " + f.probe_misses + ": expected 1..1000 probes (default 5)"};
  if (!ParseCount(f.fence_timeout, 600000, &c.fence_timeout_ms) || c.fence_timeout_ms < 100)
    return OptionError{"fence-timeout-ms", "--fence-timeout-ms " + f.fence_timeout + ": expected 100..600000 ms (default 10000)"};
  int seed = 0;
  if (!ParseCount(f.seed, 999999999, &seed)) return OptionError{"seed", "--seed " + f.seed + ": expected a whole number"};
  c.seed = static_cast<uint64_t>(seed);
  c.repair_drift = f.repair_drift;
  // Testing only (tests/lab/heal_resume.sh): exit at a named point of a healing.
  if (const char* point = std::getenv("COREPIN_CRASH_POINT")) c.crash_point = point;
  int max_body = 0;
  if (!ParseCount(f.max_body, 64 << 20, &max_body) || max_body < 1024)
    return OptionError{"max-body-bytes", "--max-body-bytes " + f.max_body + ": expected 1024..67108864 (default 1048576)"};
  s->api.max_body_bytes = static_cast<size_t>(max_body);
  s->api.host_uris.allow_simulated = f.allow_simulated;
  s->api.host_uris.allow_tcp = f.allow_tcp;
  s->api.host_names = f.api_hostnames;
  return std::nullopt;
}

// What the config file may set: every long option but --config and --help.
std::map<std::string, ConfigOption> ConfigurableOptions(const CLI::App& app) {
  std::map<std::string, ConfigOption> out;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& name : o->get_lnames())
      if (name != "help" && name != "config") out[name] = {.flag = o->get_type_size() == 0, .repeated = o->get_items_expected_max() > 1};
  }
  return out;
}

// The long options the command line gives (without dashes), and the --config file it names.
std::set<std::string> GivenOnCommandLine(int argc, char** argv, std::string* config) {
  std::set<std::string> given;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0) continue;
    const std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
    given.insert(name);
    if (name == "config") *config = a.find('=') != std::string::npos ? a.substr(a.find('=') + 1) : (i + 1 < argc ? argv[i + 1] : "");
  }
  return given;
}

}  // namespace

Result<DaemonSettings> ParseDaemonOptions(int argc, char** argv, int* exit_status) {
  CLI::App app{"corepind: the corepin daemon (pins every vCPU of KVM VMs to exact pCPUs via libvirt)"};
  Flags flags;
  Define(app, flags);
  std::string config;
  const std::set<std::string> given = GivenOnCommandLine(argc, argv, &config);
  std::vector<std::string> args = {argv[0]};
  ConfigArgs from_file;
  if (!config.empty()) {
    auto read = ReadConfigFile(config, ConfigurableOptions(app), given);
    if (!read.ok()) {
      std::cerr << "corepind: " << read.error().message << "\n";
      *exit_status = 2;
      return read.error();
    }
    from_file = std::move(*read);
    args.insert(args.end(), from_file.args.begin(), from_file.args.end());
  }
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  std::vector<char*> ptrs;
  for (auto& a : args) ptrs.push_back(a.data());
  try {
    app.parse(static_cast<int>(ptrs.size()), ptrs.data());
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);        // prints the message (or the help)
    *exit_status = code == 0 ? 0 : 2;    // an unknown option is a bad invocation, as a bad value is
    return Invalid(e.what());
  }
  DaemonSettings settings;
  if (auto bad = Check(flags, &settings)) {
    std::string where;
    if (auto line = from_file.line_of.find(bad->option); line != from_file.line_of.end() && !given.count(bad->option))
      where = " (set in " + config + " line " + std::to_string(line->second) + ")";
    std::cerr << "corepind: " << bad->message << where << "\n";
    *exit_status = 2;
    return Invalid(bad->message + where);
  }
  return settings;
}

}  // namespace corepin
