// JSON mapping of placement types: VmSpec (what API clients send and the store keeps),
// Assignment and Rejection (what the API returns and the store keeps).
//
// VmSpec JSON (unknown fields are refused):
//   { "name": "fw1", "vcpus": 4, "policy": "dedicated",
//     "vcpu_policies": ["dedicated", "dedicated", "group:ctl", "pinned:7"],   // optional, one per vCPU
//     "smt": "prefer|isolate|require", "emulator": "housekeeping|isolate|group:NAME",
//     "numa": "single|spread", "nic": "ens2" | "physnet": "datanet",
//     "memory_mib": 2048, "page_size": "4K|2M|1G",
//     "image": {"kernel": "/abs/vmlinux", "initrd": "/abs/initrd.img",                      // optional
//               "cmdline": "console=ttyS0 corepin.name={name} corepin.role={role}"},
//     "interfaces": [{"name": "svc", "mac": "52:54:00:12:34:56"}] }                        // optional
// Unknown fields inside image and interfaces are refused too; a MAC is stored in lower case.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/status.h"
#include "model/assignment.h"
#include "placement/fit.h"
#include "model/vm_spec.h"

namespace corepin {

// Parses and validates (ValidateSpec). A field given as null (YAML's `~`) is as if absent.
// `extra_fields` are keys the caller handles itself
// (e.g. "host" in the API's create request) and are not reported as unknown.
Result<VmSpec> VmSpecFromJson(const nlohmann::json& j, const std::set<std::string>& extra_fields = {});
nlohmann::json VmSpecToJson(const VmSpec& spec);

Result<Assignment> AssignmentFromJson(const nlohmann::json& j);
nlohmann::json AssignmentToJson(const Assignment& a);

nlohmann::json RejectionToJson(const Rejection& r);

}  // namespace corepin
