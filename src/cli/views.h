// Text for the `corepin` command's output, from the API's JSON (docs/api.md). Pure functions,
// so that they are unit-tested without a server. The core map is in core_map.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace corepin {

std::string RenderHostList(const nlohmann::json& hosts);    // GET /v1/hosts
// A host's state as text: active, draining, drained or failed, "(suspected)" while it is.
std::string HostStateText(const nlohmann::json& host);
std::string RenderVmList(const nlohmann::json& vms);        // GET /v1/vms
std::string RenderVm(const nlohmann::json& vm);             // GET /v1/vms/{name}
std::string RenderRepin(const nlohmann::json& reply);       // POST /v1/vms/{name}/repin
std::string RenderResize(const nlohmann::json& reply);      // POST /v1/vms/{name}/resize
std::string RenderMove(const nlohmann::json& reply);        // POST /v1/vms/{name}/move
std::string RenderReconcile(const nlohmann::json& report);  // POST /v1/reconcile
std::string RenderEvents(const nlohmann::json& events);     // GET /v1/events
std::string RenderHealings(const nlohmann::json& healings); // GET /v1/healings
std::string RenderOperations(const nlohmann::json& ops);    // GET /v1/operations
std::string RenderOperation(const nlohmann::json& op);      // GET /v1/operations/{name}, a drain's dry run
// One event on one line, for `events -f`: "ID  TIME  KIND  SUBJECT  MESSAGE\n".
std::string RenderEventLine(const nlohmann::json& event);
std::string RenderAlarms(const nlohmann::json& alarms);     // GET /v1/alarms
std::string RenderAlarmCleared(const nlohmann::json& reply);  // POST /v1/alarms/clear

// Redundancy groups. RenderGroup takes the view of GET /v1/groups/{name} (members with their
// pCPUs, healing targets under "heals") or of POST /v1/groups (the same from "placement").
std::string RenderGroupList(const nlohmann::json& groups);     // GET /v1/groups
std::string RenderGroup(const nlohmann::json& group);          // GET /v1/groups/{name}
std::string RenderSwitchover(const nlohmann::json& reply);     // POST /v1/groups/{name}/switchover
std::string RenderWhatIf(const nlohmann::json& report);        // POST /v1/whatif
std::string RenderReserve(const nlohmann::json& reserve);      // GET /v1/reserve

// An explanation (a placement's or a refusal's): for each host search its summary line, the
// best candidates with their scores, and the example rejections per host and NUMA node:
//   fw-act1 (place act): 4 hosts, 4 considered, 3 feasible; rejected: 1 pCPUs; chose h1
//     HOST  SCORE  NIC  PACK   SPREAD
//     h1    0.532  0    0.032  1
//     rejected: host h4 node0: 2 free pCPUs, needs 4
std::string RenderExplanation(const nlohmann::json& explanation);

// The message of an error reply (without "error: "): its "error" field, and for a no-fit 422
// one indented line per rejection reason, per host and NUMA node:
//   no host can take this VM
//     host local node0: 1 free pCPU, needs 2
// or, when the reply carries an explanation, its first line and the explanation.
std::string RenderApiError(int status, const nlohmann::json& body);

}  // namespace corepin
