#include "cli/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <regex>

namespace corepin {

using nlohmann::json;

namespace {

// A plain (unquoted, untagged) scalar, resolved as YAML 1.2's core schema does.
json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+"), kHex("0x[0-9a-fA-F]+"), kOct("0o[0-7]+");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  auto integer = [&](size_t skip, int base) -> json {
    const char* begin = s.data() + skip + (s[0] == '+' ? 1 : 0);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(begin, s.data() + s.size(), v, base);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
    uint64_t u = 0;  // beyond int64 (or its underflow): keep the text rather than a wrong number
    auto [end2, ec2] = std::from_chars(begin, s.data() + s.size(), u, base);
    if (ec2 == std::errc() && end2 == s.data() + s.size()) return u;
    return s;
  };
  if (std::regex_match(s, kInt)) return integer(0, 10);
  if (std::regex_match(s, kHex)) return integer(2, 16);
  if (std::regex_match(s, kOct)) return integer(2, 8);
  if (std::regex_match(s, kFloat)) return std::stod(s);
  return s;
}

Result<json> Convert(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar: {
      const std::string& tag = n.Tag();
      if (tag == "?") return PlainScalar(n.Scalar());
      if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(n.Scalar());  // quoted
      return PlainScalar(n.Scalar());  // !!int, !!bool, ...: resolve the text
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) {
        auto v = Convert(item);
        if (!v) return v;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) {
        if (!kv.first.IsScalar())
          return Invalid("line " + std::to_string(kv.first.Mark().line + 1) + ": map keys must be plain strings");
        auto v = Convert(kv.second);
        if (!v) return v;
        out[kv.first.Scalar()] = std::move(*v);
      }
      return out;
    }
  }
  return json(nullptr);
}

}  // namespace

Result<json> YamlToJson(const std::string& text) {
  try {
    return Convert(YAML::Load(text));
  } catch (const YAML::Exception& e) {
    return Invalid("not valid YAML: line " + std::to_string(e.mark.line + 1) + ", column " +
                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Result<json> SpecFileToJson(const std::string& path, const std::string& text) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    try {
      return json::parse(text);
    } catch (const json::parse_error& e) {
      return Invalid(std::string("not valid JSON: ") + e.what());
    }
  }
  return YamlToJson(text);
}

}  // namespace corepin
