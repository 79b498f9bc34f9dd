#include "cluster/peer_roster.hpp"

namespace flashsale {

void peer_roster::set(std::vector<std::string> names) {
  std::lock_guard<std::mutex> guard{mtx_};
  names_ = std::move(names);
}

std::vector<std::string> peer_roster::names() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return names_;
}

}  // namespace flashsale
