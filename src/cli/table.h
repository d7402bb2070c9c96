// A plain text table: left-aligned columns, two spaces apart, a header row in capitals.
#pragma once

#include <string>
#include <vector>

namespace corepin {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : rows_{std::move(header)} {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // The last column is not padded, so a long message does not push trailing spaces.
  std::string Render(const std::string& indent = "") const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace corepin
