#include "api/metrics_text.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace corepin {
namespace {

TEST(MetricsText, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain-name_1.x"), "plain-name_1.x");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(EscapeLabelValue("\\\"\n"), "\\\\\\\"\\n");
}

TEST(MetricsText, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("a \"b\"\\c\nd"), "a \"b\"\\\\c\\nd");
}

TEST(MetricsText, Values) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(126), "126");
  EXPECT_EQ(FormatMetricValue(-3), "-3");
  EXPECT_EQ(FormatMetricValue(0.25), "0.25");
  EXPECT_EQ(FormatMetricValue(0.1), "0.1");
  EXPECT_EQ(FormatMetricValue(1e-9), "1e-09");
  EXPECT_EQ(FormatMetricValue(123456.789012345), "123456.789012345");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
}

TEST(MetricsText, FamiliesWithHelpTypeAndSamples) {
  std::vector<MetricFamily> families = {
      {"corepin_host_up", "gauge", "1 when up\nsecond line", {{{{"host", "h\"1"}}, 1}, {{{"host", "h2"}}, 0}}},
      {"corepin_reserve_degraded", "gauge", "degraded", {{{}, 0}}},
      {"corepin_vcpu_cpu_seconds_total", "counter", "cpu", {{{{"vm", "fw1"}, {"vcpu", "0"}, {"pcpu", "3"}}, 1.5}}},
      {"corepin_empty", "gauge", "no samples", {}},
  };
  EXPECT_EQ(RenderMetricsText(families),
            "# HELP corepin_host_up 1 when up\\nsecond line\n"
            "# TYPE corepin_host_up gauge\n"
            "corepin_host_up{host=\"h\\\"1\"} 1\n"
            "corepin_host_up{host=\"h2\"} 0\n"
            "# HELP corepin_reserve_degraded degraded\n"
            "# TYPE corepin_reserve_degraded gauge\n"
            "corepin_reserve_degraded 0\n"
            "# HELP corepin_vcpu_cpu_seconds_total cpu\n"
            "# TYPE corepin_vcpu_cpu_seconds_total counter\n"
            "corepin_vcpu_cpu_seconds_total{vm=\"fw1\",vcpu=\"0\",pcpu=\"3\"} 1.5\n"
            "# HELP corepin_empty no samples\n"
            "# TYPE corepin_empty gauge\n");
}

}  // namespace
}  // namespace corepin
