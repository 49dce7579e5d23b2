#include "sim_network.h"

#include <fmt/format.h>

namespace samsa::sim {

std::string describe(const NetworkConfig& config) {
  return fmt::format("drop={} dup={} delay=[{},{}]ms queue_max={}", config.drop_probability,
                     config.duplicate_probability, config.delay_min_ms, config.delay_max_ms,
                     config.queue_max);
}

}  // namespace samsa::sim
