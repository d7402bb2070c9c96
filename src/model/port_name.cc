#include "model/port_name.h"

#include <cstdint>
#include <cstdio>

namespace corepin {

std::string PortName(const std::string& vm, const std::string& host, const std::string& interface) {
  uint32_t h = 2166136261u;  // FNV-1a, 32 bits
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 16777619u;
  };
  for (unsigned char c : vm) mix(c);
  mix(0);
  for (unsigned char c : host) mix(c);
  mix(0);
  for (unsigned char c : interface) mix(c);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", h);
  return "cp" + std::string(hex) + "-" + interface.substr(0, 4);
}

}  // namespace corepin
