// A gateway INI file: the node's configuration check (CAF's parser, then the unknown-key check,
// the value checks and the sale and key files they name) refuses or accepts it, never crashes and
// never throws. Run from the source tree (the shipped values name config/sale-demo.ini).

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "nodes/gateway_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream ini(std::string(reinterpret_cast<const char*>(data), size));
  flashsale::gateway_config cfg;
  (void)cfg.load({"--auth.mode=off"}, ini);  // off: no key file needed to get past resolve()
  return 0;
}
