// The per-host fit before issue 16's bit-mask fast path, kept as a reference implementation
// for the randomized comparison: same contract as Fit (fit.h). Tests and benchmarks only.
#pragma once

#include "placement/fit.h"

namespace corepin::reference {

FitResult ReferenceFit(const HostState& host, const VmSpec& spec);
FitResult ReferenceFit(const HostState& host, const VmSpec& spec, const FitScope& scope);

}  // namespace corepin::reference
