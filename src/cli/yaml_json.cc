#include "cli/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>

#include "common/nesting.h"

namespace corepin {

using nlohmann::json;

namespace {

// Bounds for a spec file, which is small: they keep a hostile file from exhausting the stack
// (deep nesting), memory and time ("billion laughs": aliases that expand exponentially).
constexpr size_t kMaxFileBytes = 1 << 20;
constexpr int kMaxDepth = 64;
constexpr size_t kMaxValues = 100000;
constexpr size_t kMaxScalarBytes = 65536;

// Plain-text matchers for YAML 1.2's core schema (std::regex recurses per character: a long
// scalar would overflow the stack).
bool Digits(std::string_view s, int base) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = base == 16 ? std::isxdigit(static_cast<unsigned char>(c)) : (c >= '0' && c < '0' + base);
    if (!ok) return false;
  }
  return true;
}
std::string_view Unsigned(std::string_view s) { return !s.empty() && (s[0] == '-' || s[0] == '+') ? s.substr(1) : s; }
bool IsInt(std::string_view s) { return Digits(Unsigned(s), 10); }
// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsFloat(std::string_view s) {
  s = Unsigned(s);
  const size_t e = s.find_first_of("eE");
  std::string_view mantissa = s.substr(0, e);
  if (e != std::string_view::npos && !IsInt(s.substr(e + 1))) return false;
  const size_t dot = mantissa.find('.');
  if (dot == std::string_view::npos) return Digits(mantissa, 10);
  const std::string_view whole = mantissa.substr(0, dot), frac = mantissa.substr(dot + 1);
  if (whole.empty()) return Digits(frac, 10);
  return Digits(whole, 10) && (frac.empty() || Digits(frac, 10));
}

// A plain (unquoted, untagged) scalar, resolved as YAML 1.2's core schema does.
json PlainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
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
  if (IsInt(s)) return integer(0, 10);
  if (s.rfind("0x", 0) == 0 && Digits(std::string_view(s).substr(2), 16)) return integer(2, 16);
  if (s.rfind("0o", 0) == 0 && Digits(std::string_view(s).substr(2), 8)) return integer(2, 8);
  if (IsFloat(s)) {
    try {
      return std::stod(s);
    } catch (const std::out_of_range&) {
      return s;  // 1e99999: keep the text rather than a wrong number
    }
  }
  return s;
}

struct Budget {
  size_t values_left = kMaxValues;
};

Result<json> Convert(const YAML::Node& n, int depth, Budget& budget) {
  if (depth > kMaxDepth) return Invalid("line " + std::to_string(n.Mark().line + 1) + ": nested deeper than " + std::to_string(kMaxDepth) + " levels");
  if (budget.values_left-- == 0)
    return Invalid("more than " + std::to_string(kMaxValues) + " values (aliases expanding?); a spec file is much smaller");
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar: {
      if (n.Scalar().size() > kMaxScalarBytes)
        return Invalid("line " + std::to_string(n.Mark().line + 1) + ": a value longer than " + std::to_string(kMaxScalarBytes) + " characters");
      const std::string& tag = n.Tag();
      if (tag == "?") return PlainScalar(n.Scalar());
      if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(n.Scalar());  // quoted
      return PlainScalar(n.Scalar());  // !!int, !!bool, ...: resolve the text
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) {
        auto v = Convert(item, depth + 1, budget);
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
        auto v = Convert(kv.second, depth + 1, budget);
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
  if (text.size() > kMaxFileBytes) return Invalid("larger than " + std::to_string(kMaxFileBytes) + " bytes; a spec file is much smaller");
  if (NestingDepth(text, NestingSyntax::kYaml) > kMaxDepth) return Invalid("nested deeper than " + std::to_string(kMaxDepth) + " levels");
  try {
    Budget budget;
    return Convert(YAML::Load(text), 0, budget);
  } catch (const YAML::Exception& e) {
    return Invalid("not valid YAML: line " + std::to_string(e.mark.line + 1) + ", column " +
                   std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

Result<json> SpecFileToJson(const std::string& path, const std::string& text) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    if (text.size() > kMaxFileBytes) return Invalid("larger than " + std::to_string(kMaxFileBytes) + " bytes; a spec file is much smaller");
    if (NestingDepth(text, NestingSyntax::kJson) > kMaxDepth) return Invalid("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    try {
      return json::parse(text);
    } catch (const json::parse_error& e) {
      return Invalid(std::string("not valid JSON: ") + std::string(e.what()).substr(0, 300));
    }
  }
  return YamlToJson(text);
}

}  // namespace corepin
