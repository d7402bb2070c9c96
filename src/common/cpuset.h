// CpuSet: a set of pCPU numbers, a value type, in the Linux list format ("0-3,8,10-11").
//
// Fixed capacity (kMaxCpus) so that copies are cheap and set operations are a few word ops;
// this keeps the per-host fit in the microsecond range.
#pragma once

#include <bitset>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace corepin {

class CpuSet {
 public:
  static constexpr int kMaxCpus = 1024;

  CpuSet() = default;
  CpuSet(std::initializer_list<int> cpus) {
    for (int c : cpus) Add(c);
  }

  // Parses "0-3,8" (whitespace tolerated around items). An empty string is the empty set.
  static Result<CpuSet> Parse(std::string_view text);

  void Add(int cpu) { bits_.set(static_cast<size_t>(cpu)); }
  void Remove(int cpu) { bits_.reset(static_cast<size_t>(cpu)); }
  bool Contains(int cpu) const {
    return cpu >= 0 && cpu < kMaxCpus && bits_.test(static_cast<size_t>(cpu));
  }
  int Size() const { return static_cast<int>(bits_.count()); }
  bool Empty() const { return bits_.none(); }
  // Lowest member, or -1 when empty.
  int First() const;
  std::vector<int> ToVector() const;
  std::string ToString() const;  // canonical list format

  CpuSet Union(const CpuSet& o) const { return CpuSet(bits_ | o.bits_); }
  CpuSet Intersect(const CpuSet& o) const { return CpuSet(bits_ & o.bits_); }
  CpuSet Minus(const CpuSet& o) const { return CpuSet(bits_ & ~o.bits_); }
  bool IsSubsetOf(const CpuSet& o) const { return (bits_ & ~o.bits_).none(); }
  bool Intersects(const CpuSet& o) const { return (bits_ & o.bits_).any(); }

  bool operator==(const CpuSet& o) const { return bits_ == o.bits_; }
  bool operator!=(const CpuSet& o) const { return bits_ != o.bits_; }

 private:
  explicit CpuSet(const std::bitset<kMaxCpus>& b) : bits_(b) {}
  std::bitset<kMaxCpus> bits_;
};

}  // namespace corepin
