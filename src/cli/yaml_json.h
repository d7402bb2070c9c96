// YAML -> JSON for VM spec files, faithful to YAML 1.2's core schema: a plain 4 stays the
// integer 4, true a boolean, ~ null, 1.5 a number; a quoted "4" stays the string "4"; lists
// stay lists and maps objects.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"

namespace corepin {

// Parses one YAML document. Errors name the line and column.
Result<nlohmann::json> YamlToJson(const std::string& text);

// A spec file's content as JSON: JSON when `path` ends in .json, YAML otherwise (JSON is also
// valid YAML, but the JSON parser's messages are better for a .json file).
Result<nlohmann::json> SpecFileToJson(const std::string& path, const std::string& text);

}  // namespace corepin
