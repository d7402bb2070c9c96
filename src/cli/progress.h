// Following a long operation (a drain) from the CLI: polls GET /v1/operations/{name} and draws
// a progress bar ("[#######.......] 3/6  moving fw-b") on a terminal, or prints a line per
// change otherwise, until the operation is done or stopped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cli/client.h"
#include "common/status.h"

namespace corepin {

// The bar for `done` of `total`, `width` characters between the brackets.
std::string ProgressBar(int done, int total, int width = 30);

// Follows the operation until its step is done, stopped or cancelled; returns its last view.
Result<nlohmann::json> FollowOperation(ApiClient& client, const std::string& name);

}  // namespace corepin
