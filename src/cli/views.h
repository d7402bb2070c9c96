// Text for the `corepin` command's output, from the API's JSON (docs/api.md). Pure functions,
// so that they are unit-tested without a server. The core map is in core_map.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace corepin {

std::string RenderHostList(const nlohmann::json& hosts);    // GET /v1/hosts
std::string RenderVmList(const nlohmann::json& vms);        // GET /v1/vms
std::string RenderVm(const nlohmann::json& vm);             // GET /v1/vms/{name}
std::string RenderReconcile(const nlohmann::json& report);  // POST /v1/reconcile
std::string RenderEvents(const nlohmann::json& events);     // GET /v1/events

// The message of an error reply (without "error: "): its "error" field, and for a no-fit 422
// one indented line per rejection reason, per host and NUMA node:
//   no host can take this VM
//     host local node0: 1 free pCPUs, needs 2
std::string RenderApiError(int status, const nlohmann::json& body);

}  // namespace corepin
