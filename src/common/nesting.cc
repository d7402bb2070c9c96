#include "common/nesting.h"

#include <algorithm>

namespace corepin {

int NestingDepth(std::string_view text, NestingSyntax syntax) {
  const bool yaml = syntax == NestingSyntax::kYaml;
  int depth = 0, deepest = 0;
  char quote = 0;  // the quote of the string we are in, or 0
  bool comment = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (comment) {
      comment = c != '\n';
    } else if (quote) {
      if (c == '\\' && quote == '"') ++i;  // an escaped character cannot end the string
      else if (c == quote) quote = 0;
    } else if (c == '"' || (yaml && c == '\'')) {
      quote = c;
    } else if (yaml && c == '#') {
      comment = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace corepin
