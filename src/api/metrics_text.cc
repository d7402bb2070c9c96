#include "api/metrics_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace corepin {

namespace {

std::string Escape(std::string_view in, bool quotes) {
  std::string out;
  for (char c : in) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quotes) out += "\\\"";
    else out += c;
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) { return Escape(value, true); }
std::string EscapeHelp(std::string_view help) { return Escape(help, false); }

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<long long>(v));
  // The shortest of 15 or 17 significant digits that reads back as the same double.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string RenderMetricsText(const std::vector<MetricFamily>& families) {
  std::string out;
  for (const auto& f : families) {
    out += "# HELP " + f.name + " " + EscapeHelp(f.help) + "\n";
    out += "# TYPE " + f.name + " " + f.type + "\n";
    for (const auto& s : f.samples) {
      out += f.name;
      if (!s.labels.empty()) {
        out += "{";
        for (size_t i = 0; i < s.labels.size(); ++i)
          out += (i ? "," : "") + s.labels[i].first + "=\"" + EscapeLabelValue(s.labels[i].second) + "\"";
        out += "}";
      }
      out += " " + FormatMetricValue(s.value) + "\n";
    }
  }
  return out;
}

}  // namespace corepin
