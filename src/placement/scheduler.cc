#include "placement/scheduler.h"

#include <algorithm>

namespace corepin {

uint64_t SeededHash(uint64_t seed, const std::string& s) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a, then a splitmix finalizer
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  h ^= h >> 30, h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27, h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

CpuSet NewlyHeld(const HostState& hs, const Assignment& a) {
  CpuSet held = a.exclusive.Union(a.reserved_siblings);
  for (const auto& [g, pcpu] : a.groups)
    if (!hs.FindGroup(g)) held.Add(pcpu);
  return held;
}

const char* FilterHost(const ClusterHost& h, const HostFilter& f) {
  if (h.id == f.own_host) return reason::kOwnHost;
  if (!h.schedulable) return reason::kUnschedulable;
  if (!f.only_host.empty() && h.name != f.only_host) return reason::kNotRequested;
  if (f.avoid_hosts.count(h.id)) return reason::kMemberHere;
  for (const auto& key : f.domains) {
    auto it = h.labels.find(key);
    if (it == h.labels.end()) return reason::kLabelMissing;
    if (auto av = f.avoid_values.find(key); av != f.avoid_values.end() && av->second.count(it->second)) return reason::kLabelShared;
  }
  return "";
}

ScoredHost ScoreHost(const Cluster& c, const ClusterHost& h, const VmSpec& spec, Role role, const Assignment& a) {
  const HostState& hs = h.state;
  const RankWeights& w = c.options().weights;
  ScoredHost s;
  s.host = h.name;
  // NIC locality: a VM that names a NIC or physnet got it (Fit enforces it); any other VM
  // scores by how much it stays off the NICs' nodes, to keep them for those that need them.
  double nic = 1.0;
  if (spec.nic.empty() && spec.physnet.empty() && !h.nic_nodes.empty()) {
    CpuSet used = a.VcpuPcpus();
    if (spec.emulator.kind != EmulatorPolicy::Kind::kHousekeeping) used = used.Union(a.emulator);
    int off = 0, all = 0;
    for (int p : used.ToVector()) {
      ++all;
      off += h.nic_nodes.count(hs.topology().FindPcpu(p)->node) == 0;
    }
    nic = all ? static_cast<double>(off) / all : 1.0;
  }
  // Best fit: the fewer pCPUs left free (outside the reserve) after this VM, the better.
  const int alloc = std::max(1, hs.partition().allocatable.Size());
  const int left = hs.free().Minus(hs.reserve().pcpus).Minus(NewlyHeld(hs, a)).Size();
  const double pack = 1.0 - static_cast<double>(left) / alloc;
  const double spread = role == Role::kAct ? 1.0 / (1 + h.acts) : 1.0;
  s.parts = {{"nic", nic}, {"pack", pack}, {"spread", spread}};
  s.score = w.nic * nic + w.pack * pack + w.spread * spread;
  return s;
}

namespace {

// A refused host's class: the fit's, or the healing reserve's when the host would take the VM
// without its reserve.
std::string ReserveOr(const HostState& hs, const VmSpec& spec, std::string why) {
  if ((why == reason::kPcpus || why == reason::kMemory) && !hs.reserve().Empty()) {
    FitScope all;
    all.pcpus = hs.free();
    for (const auto& node : hs.topology().nodes) {
      uint64_t cap = hs.MemoryCapacityMib(node.id, spec.page_kib), used = hs.MemoryUsedMib(node.id, spec.page_kib);
      all.memory_mib[{node.id, spec.page_kib}] = cap > used ? cap - used : 0;
    }
    if (Fit(hs, spec, all).ok()) why = reason::kReserve;
  }
  return why;
}

const char* ReasonOf(FitCode code) {
  switch (code) {
    case FitCode::kMemory: return reason::kMemory;
    case FitCode::kNic: return reason::kNic;
    default: return reason::kPcpus;
  }
}

}  // namespace

std::vector<Candidate> RankHosts(const Cluster& c, const VmSpec& spec, Role role, const HostFilter& filter,
                                 SearchExplanation* ex) {
  const auto& order = c.hosts();
  const size_t n = order.size();
  ex->vm = spec.name;
  ex->hosts_total = static_cast<int>(n);
  std::vector<Candidate> out;
  if (n == 0) return out;
  const ClusterOptions& opt = c.options();
  const size_t limit = opt.max_candidates > 0 ? static_cast<size_t>(opt.max_candidates) : n;
  const size_t fits = opt.max_fits > 0 ? static_cast<size_t>(opt.max_fits) : n;
  size_t start = SeededHash(opt.seed, spec.name) % n, scanned = 0, stop = n;
  if (!filter.only_host.empty()) {  // one host asked for: look only there
    const ClusterHost* h = c.FindHost(filter.only_host);
    if (!h) {
      ex->Reject(reason::kNotRequested);
      return out;
    }
    start = static_cast<size_t>(std::find(order.begin(), order.end(), h) - order.begin());
    stop = 1;
  }
  struct Pre {
    const ClusterHost* host;
    double estimate;
    uint64_t tie;
  };
  // Batches of candidates that pass the cheap checks, until one batch yields a fit.
  while (out.empty() && scanned < stop) {
    std::vector<Pre> pre;
    for (; scanned < stop && pre.size() < limit; ++scanned) {
      const ClusterHost& h = *order[(start + scanned) % n];
      ++ex->hosts_considered;
      if (const char* why = FilterHost(h, filter); *why) {
        ex->Reject(why);
        continue;
      }
      const HostState& hs = h.state;
      const int need = MinPcpus(spec, hs.topology().threads_per_core), have = hs.free().Minus(hs.reserve().pcpus).Size();
      if (have < need) {
        Rejection r{h.name, {std::to_string(have) + (have == 1 ? " free pCPU" : " free pCPUs") + " outside the healing reserve, needs at least " + std::to_string(need)}, {}};
        // The few rejections an explanation keeps in full get the exact per-node reasons.
        if (ex->examples.size() < SearchExplanation::kMaxExamples)
          if (FitResult fit = Fit(hs, spec); !fit.ok()) r = std::move(fit.rejection);
        ex->Reject(have + hs.reserve().pcpus.Intersect(hs.free()).Size() >= need ? reason::kReserve : reason::kPcpus, r);
        continue;
      }
      // The capacity index: the fit's fast path answers exactly, from per-node counts of free
      // pCPUs, whole free cores and memory, and NIC locality, whether the host can take the VM;
      // a host that cannot is refused here, without a fit, and the limit below counts only
      // hosts that can (Nomad's limit on feasible nodes). kOther: only Fit can tell.
      if (const FitCode code = FitCheck(hs, spec); code != FitCode::kOk && code != FitCode::kOther) {
        Rejection r;
        if (ex->examples.size() < SearchExplanation::kMaxExamples) r = Fit(hs, spec).rejection;
        ex->Reject(ReserveOr(hs, spec, ReasonOf(code)), std::move(r));
        continue;
      }
      // Estimated score: the exact one with the VM's least pCPUs, and NIC locality unknown.
      const double alloc = std::max(1, hs.partition().allocatable.Size());
      const double est = opt.weights.nic + opt.weights.pack * (1.0 - (have - need) / alloc) +
                         opt.weights.spread * (role == Role::kAct ? 1.0 / (1 + h.acts) : 1.0);
      pre.push_back({&h, est, SeededHash(opt.seed, h.name)});
    }
    std::sort(pre.begin(), pre.end(), [](const Pre& a, const Pre& b) { return std::tie(b.estimate, a.tie) < std::tie(a.estimate, b.tie); });
    for (const Pre& p : pre) {
      if (out.size() >= fits) break;
      const ClusterHost& h = *p.host;
      FitResult fit = Fit(h.state, spec);
      if (!fit.ok()) {
        // Say so when only the healing reserve stands in the way.
        ex->Reject(ReserveOr(h.state, spec, ClassifyRejection(fit.rejection)), std::move(fit.rejection));
        continue;
      }
      ++ex->hosts_feasible;
      Candidate cand{&h, std::move(*fit.assignment), {}};
      cand.score = ScoreHost(c, h, spec, role, cand.assignment);
      out.push_back(std::move(cand));
    }
  }
  std::sort(out.begin(), out.end(), [&](const Candidate& a, const Candidate& b) {
    if (a.score.score != b.score.score) return a.score.score > b.score.score;
    return SeededHash(opt.seed, a.host->name) < SeededHash(opt.seed, b.host->name);
  });
  for (size_t i = 0; i < out.size() && i < SearchExplanation::kMaxTop; ++i) ex->top.push_back(out[i].score);
  return out;
}

}  // namespace corepin
