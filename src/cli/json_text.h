// Reading the API's JSON for text output: fields that may be absent or null, as table text.
// Shared by the CLI's views (views.cc, links_views.cc).
#pragma once

#include <cctype>
#include <nlohmann/json.hpp>
#include <string>

namespace corepin {

// Any JSON value as table text: strings bare, null/absent as "-".
inline std::string Text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return "-";
  const nlohmann::json& v = j[key];
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

// "1 host", "2 hosts"; `count` is the JSON text of a number.
inline std::string Plural(const std::string& count, const std::string& noun) { return count + " " + noun + (count == "1" ? "" : "s"); }
inline std::string Plural(size_t count, const std::string& noun) { return Plural(std::to_string(count), noun); }

inline const nlohmann::json& Field(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  return j.is_object() && j.contains(key) ? j[key] : kNull;
}
inline const nlohmann::json& List(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  return j.is_object() && j.contains(key) && j[key].is_array() ? j[key] : kEmpty;
}
inline std::string Str(const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : j.is_null() ? "" : j.dump(); }

// "act" -> "ACT": roles as the CLI shows them.
inline std::string Role(const nlohmann::json& m) {
  std::string r = Text(m, "role");
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace corepin
