#include "cli/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

namespace corepin {

using nlohmann::json;

std::string ProgressBar(int done, int total, int width) {
  const int filled = total > 0 ? done * width / total : width;
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " + std::to_string(done) + "/" +
         std::to_string(total);
}

Result<json> FollowOperation(ApiClient& client, const std::string& name) {
  const bool tty = isatty(STDERR_FILENO);
  std::string last;
  while (true) {
    auto op = client.Get("/v1/operations/" + name);
    if (!op) return op.error();
    const std::string step = op->value("step", "");
    const json& progress = (*op)["detail"].value("progress", json::object());
    const std::string current = progress.value("current", "");
    std::string line = ProgressBar(progress.value("done", 0), progress.value("total", 0)) + "  " + step +
                       (current.empty() ? "" : " " + current);
    if (line != last) {
      if (tty) std::fprintf(stderr, "\r\033[K%s", line.c_str());
      else std::fprintf(stderr, "%s\n", line.c_str());
      last = line;
    }
    if (step == "done" || step == "stopped" || step == "cancelled") {
      if (tty) std::fprintf(stderr, "\n");
      return op;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace corepin
