// The checks every request passes before its body is read or a route sees it: those that keep
// a web page a person opens (cross-site requests, DNS rebinding) from driving corepind, and
// those that keep HTTP unambiguous.
//
//   - POST needs Content-Type: application/json (an HTML form cannot send it without CORS,
//     which corepind never grants);
//   - the Host header is an IP address, localhost, or a name given with --api-hostname (a
//     rebound DNS name is refused);
//   - one Content-Length, a number at most the body limit, not with Transfer-Encoding; no Content-Encoding (bodies are never
//     decompressed: a 1 MB gzip body could inflate to gigabytes).
#pragma once

#include <httplib.h>

#include <string>
#include <vector>

namespace corepin {

struct RequestRefusal {
  int status = 0;  // 0: the request may go on
  std::string message;
};

// `max_body_bytes`: a larger Content-Length is 413 before the body is read.
RequestRefusal CheckRequestHeaders(const httplib::Request& req, const std::vector<std::string>& host_names, size_t max_body_bytes);

// `text` with control characters escaped (\n, \x1b) and cut at `max` bytes: for log lines and
// messages that quote what a client sent.
std::string Printable(const std::string& text, size_t max = 200);

}  // namespace corepin
