// Prometheus text exposition format, version 0.0.4: for each family "# HELP", "# TYPE", then one
// line per sample, `name{label="value",...} value`. Label values escape \, " and newline; help
// text escapes \ and newline. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "controller/metrics.h"

namespace corepin {

inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// 3, 0.25, 1e-09, NaN, +Inf, -Inf (integers without a decimal point or exponent).
std::string FormatMetricValue(double value);
std::string RenderMetricsText(const std::vector<MetricFamily>& families);

}  // namespace corepin
