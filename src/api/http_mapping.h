// The HTTP edge of corepin's error model: Error -> status + {"error": message}, request bodies
// -> JSON objects, query parameters -> integers. Every route goes through these, so that a
// client sees one error shape everywhere.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "controller/controller.h"

namespace corepin {

// Writes `body` as the JSON response with `status`.
void ReplyJson(httplib::Response& res, int status, const nlohmann::json& body);

// Status = the ErrorCode value (they are HTTP statuses), body {"error": message}.
void ReplyError(httplib::Response& res, const Error& error);

// A CreateVm or CreateGroup that found no placement: 422 {"error": summary, "rejections": [...],
// "explanation": {...}} when `no_fit` was filled (rejections per host and NUMA node, and the
// searches of the explanation), otherwise a plain ReplyError.
void ReplyCreateError(httplib::Response& res, const Error& error, const NoFit& no_fit);

// Request bodies nested deeper than this are refused before they are parsed.
constexpr int kMaxJsonDepth = 64;
// Error messages longer than this are cut (they may quote the request).
constexpr size_t kMaxErrorBytes = 4096;

// The request body as a JSON object: 400 with the parser's message when it is not JSON, or
// naming the type when it is JSON but not an object.
Result<nlohmann::json> ParseJsonObject(const std::string& body);

// Query parameter `name` as an integer in [min, max], or `fallback` when absent.
Result<int64_t> QueryInt(const httplib::Request& req, const std::string& name, int64_t fallback, int64_t min,
                         int64_t max);

}  // namespace corepin
