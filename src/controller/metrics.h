// Metrics as data: what Controller::Metrics() collects and /metrics prints in Prometheus text
// format (src/api/metrics_text.h). Families and samples keep their order.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace corepin {

struct MetricSample {
  std::vector<std::pair<std::string, std::string>> labels;  // name -> value (unescaped)
  double value = 0;
};

struct MetricFamily {
  std::string name;  // e.g. "corepin_host_up"
  std::string type;  // "gauge" or "counter"
  std::string help;
  std::vector<MetricSample> samples;
};

}  // namespace corepin
