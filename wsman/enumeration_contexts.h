// EnumerationContexts: the open WS-Enumeration enumerations of a server, each a snapshot of the
// serialized items an Enumerate selected, handed out by Pull until none remain.
//
// Bounded: at most `max_contexts` open at once (the oldest is dropped for a new one) and each
// expires `ttl` after its last use; a dropped or expired context is an unknown one
// (wsen:InvalidEnumerationContext), never a crash. Context ids are random GUIDs.
//
// Thread safety: thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace hvdisk::wsman {

class EnumerationContexts {
 public:
  using Clock = std::chrono::steady_clock;

  explicit EnumerationContexts(size_t max_contexts = 64,
                               std::chrono::seconds ttl = std::chrono::minutes(5));

  // Opens a context over `items`; returns its id.
  std::string Open(std::vector<std::string> items);
  // Takes up to `max_items` items whose total size stays within `max_bytes` (at least one item
  // if any remain, unless that one alone exceeds max_bytes: then none, and *too_big is set).
  // *end is set when none remain, and the context is closed. false for an unknown context.
  bool Pull(const std::string& id, size_t max_items, size_t max_bytes,
            std::vector<std::string>* out, bool* end, bool* too_big);
  // false for an unknown context.
  bool Release(const std::string& id);
  size_t size();

 private:
  struct Context {
    std::deque<std::string> items;
    Clock::time_point last_use;
  };
  void DropExpired(Clock::time_point now);  // REQUIRES: mu_ held

  const size_t max_contexts_;
  const std::chrono::seconds ttl_;
  std::mutex mu_;
  std::map<std::string, Context> contexts_;  // GUARDED_BY(mu_)
};

}  // namespace hvdisk::wsman
