// EnumerationContexts: bounded, expiring, and each item handed out once.
#include "wsman/enumeration_contexts.h"

#include <gtest/gtest.h>

#include <thread>

namespace hvdisk::wsman {
namespace {

TEST(EnumerationContextsTest, PullHandsOutEachItemOnceThenForgetsTheContext) {
  EnumerationContexts contexts;
  const std::string id = contexts.Open({"a", "bb", "ccc"});
  std::vector<std::string> out;
  bool end = false, too_big = false;
  ASSERT_TRUE(contexts.Pull(id, 2, 100, &out, &end, &too_big));
  EXPECT_EQ(out, (std::vector<std::string>{"a", "bb"}));
  EXPECT_FALSE(end);
  out.clear();
  ASSERT_TRUE(contexts.Pull(id, 5, 2, &out, &end, &too_big));  // "ccc" does not fit in 2 bytes
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(too_big);
  ASSERT_TRUE(contexts.Pull(id, 5, 100, &out, &end, &too_big));
  EXPECT_EQ(out, std::vector<std::string>{"ccc"});
  EXPECT_TRUE(end);
  EXPECT_FALSE(contexts.Pull(id, 1, 100, &out, &end, &too_big));
  EXPECT_FALSE(contexts.Release(id));
}

TEST(EnumerationContextsTest, TheOldestIsDroppedPastTheBoundAndIdleOnesExpire) {
  EnumerationContexts contexts(2, std::chrono::seconds(1));
  const std::string a = contexts.Open({"x"});
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const std::string b = contexts.Open({"x"});
  const std::string c = contexts.Open({"x"});
  EXPECT_EQ(contexts.size(), 2u);
  EXPECT_FALSE(contexts.Release(a));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  std::vector<std::string> out;
  bool end = false, too_big = false;
  EXPECT_FALSE(contexts.Pull(b, 1, 10, &out, &end, &too_big));
  EXPECT_FALSE(contexts.Release(c));
}

}  // namespace
}  // namespace hvdisk::wsman
