// How deeply a JSON or YAML text nests its [ ] and { }, counted without parsing it: checked
// before a parser that recurses per level (nlohmann's copies and dumps, yaml-cpp) sees the text,
// so that a hostile input nested thousands deep is refused instead of exhausting the stack.
#pragma once

#include <string_view>

namespace corepin {

enum class NestingSyntax {
  kJson,  // "..." strings with \ escapes
  kYaml,  // also '...' strings and # comments to the end of the line
};

// The deepest nesting of [ and { outside strings (and YAML comments).
int NestingDepth(std::string_view text, NestingSyntax syntax);

}  // namespace corepin
