#include "api/request_guard.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace corepin {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "name:port", "1.2.3.4:port", "[::1]:port" -> the host part.
std::string HostPart(const std::string& header) {
  if (!header.empty() && header[0] == '[') {
    const size_t close = header.find(']');
    return close == std::string::npos ? header : header.substr(0, close + 1);
  }
  return header.substr(0, header.find(':'));
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return true;
  return host.size() > 2 && host.front() == '[' && host.back() == ']' &&
         inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) == 1;
}

}  // namespace

std::string Printable(const std::string& text, size_t max) {
  std::string out;
  for (size_t i = 0; i < text.size() && out.size() < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else out += static_cast<char>(c);
  }
  if (out.size() >= max && text.size() > max) out += "...";
  return out;
}

RequestRefusal CheckRequestHeaders(const httplib::Request& req, const std::vector<std::string>& host_names, size_t max_body_bytes) {
  if (req.get_header_value_count("Content-Length") > 1)
    return {400, "more than one Content-Length header; send one"};
  // Refused here, before the body is read (httplib would read and discard all of it first).
  if (req.has_header("Content-Length")) {
    const std::string text = req.get_header_value("Content-Length");
    if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
      return {400, "Content-Length " + Printable(text, 40) + " is not a byte count"};
    if (std::stoull(text) > max_body_bytes)
      return {413, "request body of " + text + " bytes is larger than " + std::to_string(max_body_bytes) +
                       " bytes; no corepin request needs that"};
  }
  if (req.has_header("Content-Length") && req.has_header("Transfer-Encoding"))
    return {400, "both Content-Length and Transfer-Encoding; send one of them"};
  if (req.has_header("Content-Encoding") && Lower(req.get_header_value("Content-Encoding")) != "identity")
    return {415, "Content-Encoding " + Printable(req.get_header_value("Content-Encoding"), 40) +
                     ": corepind does not decompress request bodies; send the JSON as it is"};
  if (req.has_header("Host")) {
    const std::string host = Lower(HostPart(req.get_header_value("Host")));
    const bool named = std::find(host_names.begin(), host_names.end(), host) != host_names.end();
    if (!IsIpLiteral(host) && host != "localhost" && !named)
      return {421, "Host " + Printable(host, 80) +
                       " is not an address of corepind: use an IP address or localhost, or start corepind with "
                       "--api-hostname " + Printable(host, 80) + " to accept that name"};
  }
  if (req.method == "POST") {
    const std::string type = Lower(req.get_header_value("Content-Type"));
    const std::string media = type.substr(0, type.find(';'));
    if (media != "application/json")
      return {415, "POST needs Content-Type: application/json (got " + (type.empty() ? std::string("none") : Printable(type, 60)) +
                       "); e.g. curl -H 'Content-Type: application/json' -d '{}'"};
  }
  return {};
}

}  // namespace corepin
