// corepind's options: defined once (the command line and the config file share them), read,
// and checked into the settings the daemon runs with. A bad value names its option and, when it
// came from the config file, its line there.
#pragma once

#include <string>

#include "api/api_server.h"
#include "common/status.h"
#include "controller/controller.h"

namespace corepin {

struct DaemonSettings {
  std::string db = "/var/lib/corepin/corepin.db";
  std::string listen = "127.0.0.1:7480";
  std::string listen_host;
  int listen_port = 0;
  bool init = false;
  std::string config_file;  // "" when none was given
  ControllerOptions controller;
  ApiOptions api;
};

// Parses argv (and the --config file it names) into settings. On --help, or a bad option or
// value, returns the exit status to end with (0 for --help, 2 otherwise) after printing why.
Result<DaemonSettings> ParseDaemonOptions(int argc, char** argv, int* exit_status);

}  // namespace corepin
