// corepind's configuration file (/etc/corepin/corepind.conf, YAML): one key per command-line
// option, spelled as the option without its dashes, so that the file and the command line can
// never mean different things:
//
//   listen: 127.0.0.1:7480
//   db: /var/lib/corepin/corepin.db
//   failures-tolerated: 1
//   repair-drift: true          # a flag: true or false
//   api-hostname: [corepin.example.net]   # an option given several times: a list
//
// The file becomes arguments placed before the command line's; an option given on the command
// line wins (its key in the file is left out). A bad file is refused with its line and reason.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace corepin {

struct ConfigOption {
  bool flag = false;      // takes no value: true or false in the file
  bool repeated = false;  // may be given several times: a list in the file
};

struct ConfigArgs {
  std::vector<std::string> args;      // "--key=value" / "--flag", in file order
  std::map<std::string, int> line_of;  // key -> its line in the file, for messages
};

// Reads `path` against the daemon's options (long names without dashes). `given` holds the
// options the command line sets, which the file does not override.
Result<ConfigArgs> ReadConfigFile(const std::string& path, const std::map<std::string, ConfigOption>& options,
                                  const std::set<std::string>& given);

}  // namespace corepin
