#include "daemon/config_file.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace corepin {
namespace {

std::string At(const std::string& path, const YAML::Mark& m) { return path + " line " + std::to_string(m.line + 1); }

std::string Known(const std::map<std::string, ConfigOption>& options) {
  std::string out;
  for (const auto& [name, o] : options) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

Result<ConfigArgs> ReadConfigFile(const std::string& path, const std::map<std::string, ConfigOption>& options,
                                  const std::set<std::string>& given) {
  std::ifstream in(path);
  if (!in) return Invalid("config file " + path + " cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1 << 20)) return Invalid("config file " + path + " is larger than 1 MiB");
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    return Invalid("config file " + At(path, e.mark) + ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  ConfigArgs out;
  if (root.IsNull()) return out;  // an empty file, or only comments
  if (!root.IsMap()) return Invalid("config file " + path + ": expected a map of option: value, e.g. \"listen: 127.0.0.1:7480\"");
  for (const auto& kv : root) {
    const YAML::Mark mark = kv.first.Mark();
    if (!kv.first.IsScalar()) return Invalid("config file " + At(path, mark) + ": a key must be an option name");
    const std::string key = kv.first.Scalar();
    auto o = options.find(key);
    if (o == options.end())
      return Invalid("config file " + At(path, mark) + ": unknown option \"" + key + "\"; the options are " + Known(options));
    if (out.line_of.count(key)) return Invalid("config file " + At(path, mark) + ": " + key + " is given twice");
    out.line_of[key] = mark.line + 1;
    if (given.count(key)) continue;  // the command line wins
    const YAML::Node& v = kv.second;
    std::vector<std::string> values;
    if (v.IsSequence() && o->second.repeated) {
      for (const auto& item : v) {
        if (!item.IsScalar()) return Invalid("config file " + At(path, item.Mark()) + ": " + key + ": each entry must be a single value");
        values.push_back(item.Scalar());
      }
    } else if (v.IsScalar()) {
      values.push_back(v.Scalar());
    } else {
      return Invalid("config file " + At(path, mark) + ": " + key + ": expected a single value" +
                     (o->second.repeated ? " or a list" : ""));
    }
    for (const auto& value : values) {
      if (o->second.flag) {
        if (value == "true") out.args.push_back("--" + key);
        else if (value != "false") return Invalid("config file " + At(path, mark) + ": " + key + ": expected true or false, got \"" + value + "\"");
      } else {
        out.args.push_back("--" + key + "=" + value);
      }
    }
  }
  return out;
}

}  // namespace corepin
