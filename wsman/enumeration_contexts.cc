#include "wsman/enumeration_contexts.h"

#include <algorithm>

#include "platform/guid.h"

namespace hvdisk::wsman {

EnumerationContexts::EnumerationContexts(size_t max_contexts, std::chrono::seconds ttl)
    : max_contexts_(std::max<size_t>(max_contexts, 1)), ttl_(ttl) {}

void EnumerationContexts::DropExpired(Clock::time_point now) {
  for (auto it = contexts_.begin(); it != contexts_.end();) {
    it = now - it->second.last_use > ttl_ ? contexts_.erase(it) : std::next(it);
  }
}

std::string EnumerationContexts::Open(std::vector<std::string> items) {
  const auto now = Clock::now();
  std::lock_guard<std::mutex> guard(mu_);
  DropExpired(now);
  while (contexts_.size() >= max_contexts_) {
    auto oldest = std::min_element(
        contexts_.begin(), contexts_.end(),
        [](const auto& a, const auto& b) { return a.second.last_use < b.second.last_use; });
    contexts_.erase(oldest);
  }
  std::string id = "uuid:" + Guid::Random().ToString(false);
  Context& c = contexts_[id];
  c.items.assign(std::make_move_iterator(items.begin()), std::make_move_iterator(items.end()));
  c.last_use = now;
  return id;
}

bool EnumerationContexts::Pull(const std::string& id, size_t max_items, size_t max_bytes,
                               std::vector<std::string>* out, bool* end, bool* too_big) {
  const auto now = Clock::now();
  std::lock_guard<std::mutex> guard(mu_);
  DropExpired(now);
  auto it = contexts_.find(id);
  if (it == contexts_.end()) return false;
  Context& c = it->second;
  c.last_use = now;
  *too_big = false;
  size_t bytes = 0;
  while (!c.items.empty() && out->size() < max_items) {
    if (bytes + c.items.front().size() > max_bytes) {
      *too_big = out->empty();
      break;
    }
    bytes += c.items.front().size();
    out->push_back(std::move(c.items.front()));
    c.items.pop_front();
  }
  *end = c.items.empty();
  if (*end) contexts_.erase(it);
  return true;
}

bool EnumerationContexts::Release(const std::string& id) {
  std::lock_guard<std::mutex> guard(mu_);
  return contexts_.erase(id) > 0;
}

size_t EnumerationContexts::size() {
  std::lock_guard<std::mutex> guard(mu_);
  return contexts_.size();
}

}  // namespace hvdisk::wsman
