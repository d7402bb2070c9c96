#include "common/cpuset.h"

#include <charconv>

namespace corepin {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool ParseCpu(std::string_view s, int* out) {
  s = Trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0 && *out < CpuSet::kMaxCpus;
}

}  // namespace

Result<CpuSet> CpuSet::Parse(std::string_view text) {
  CpuSet set;
  text = Trim(text);
  if (text.empty()) return set;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    size_t dash = item.find('-');
    int lo = 0, hi = 0;
    bool ok = dash == std::string_view::npos ? (ParseCpu(item, &lo) && (hi = lo, true))
                                             : (ParseCpu(item.substr(0, dash), &lo) && ParseCpu(item.substr(dash + 1), &hi));
    if (!ok || lo > hi) {
      return Invalid("bad CPU list \"" + std::string(text) + "\": item \"" + std::string(Trim(item)) +
                     "\" is not a CPU number or range lo-hi (numbers 0.." + std::to_string(kMaxCpus - 1) +
                     "); write it like \"0-3,8\"");
    }
    for (int c = lo; c <= hi; ++c) set.Add(c);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return set;
}

int CpuSet::First() const {
  size_t c = bits_._Find_first();  // libstdc++ extension: word-at-a-time scan
  return c >= bits_.size() ? -1 : static_cast<int>(c);
}

std::vector<int> CpuSet::ToVector() const {
  std::vector<int> out;
  out.reserve(bits_.count());
  for (size_t c = bits_._Find_first(); c < bits_.size(); c = bits_._Find_next(c))
    out.push_back(static_cast<int>(c));
  return out;
}

std::string CpuSet::ToString() const {
  std::string out;
  int c = 0;
  while (c < kMaxCpus) {
    if (!bits_.test(static_cast<size_t>(c))) { ++c; continue; }
    int end = c;
    while (end + 1 < kMaxCpus && bits_.test(static_cast<size_t>(end + 1))) ++end;
    if (!out.empty()) out += ',';
    out += std::to_string(c);
    if (end > c) out += '-' + std::to_string(end);
    c = end + 1;
  }
  return out;
}

}  // namespace corepin
