// Crash proof for merge and reparent: each runs on a CrashFileSystem stopped at every mutating
// operation (write, flush, truncate, rename, unlink, directory sync) with several seeds, dropping
// or keeping unsynced state. After every crash the leaf's chain must open, check free of
// corruption and show unchanged content; rolling forward (rerunning the operation, or removing
// what it left behind) must then reach the finished state, clean.
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>

#include "chain/chain.h"
#include "platform/crash_file_system.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/chain_fixture.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::chain {
namespace {

// base <- d1 <- d2 <- d3, built once; every run starts from a durable copy of it.
struct Template {
  MemFileSystem fs;
  std::vector<std::string> paths;
  std::string digest;  // through d3
};

const Template& GetTemplate() {
  static Template* t = [] {
    auto* t = new Template;
    t->paths = *testing::MakeChain(&t->fs, "/s", 3);
    (void)t->fs.PutFile("/s/copy-d1.avhdx", *t->fs.GetFile(t->paths[1]));
    t->digest = *testing::ChainDigest(&t->fs, t->paths[3]);
    return t;
  }();
  return *t;
}

using Operation = std::function<Status(FileSystem*)>;

// Release builds crash every point in every mode; sanitizer builds (10x slower) rotate the modes
// over the points unless HVDISK_LONG_CRASH is set.
#if defined(__SANITIZE_ADDRESS__)
const bool kEveryModeAtEveryPoint = std::getenv("HVDISK_LONG_CRASH") != nullptr;
#else
const bool kEveryModeAtEveryPoint = true;
#endif

void ExpectLeafIntact(FileSystem* fs, const std::string& where) {
  const Template& t = GetTemplate();
  auto digest = testing::ChainDigest(fs, t.paths[3]);
  ASSERT_TRUE(digest.ok()) << where << ": " << digest.status().ToString();
  EXPECT_EQ(*digest, t.digest) << where;
  ASSERT_OK_AND_ASSIGN(ChainCheckReport check, CheckChain(fs, t.paths[3]));
  EXPECT_FALSE(check.corrupt()) << where;
}

// Runs `op` until the crash point, crashes, checks, rolls forward with `finish`, checks.
void CrashAt(const Operation& op, const Operation& finish, uint64_t point, uint64_t seed,
             CrashMode mode) {
  CrashFileSystem fs;
  ASSERT_OK(fs.ImportFrom(const_cast<MemFileSystem*>(&GetTemplate().fs), "/"));
  fs.SetCrashPoint(point);
  (void)op(&fs);
  fs.Crash(seed, mode);
  const std::string where = "point " + std::to_string(point) + " seed " + std::to_string(seed) +
                            " mode " + std::to_string(static_cast<int>(mode));
  ExpectLeafIntact(&fs, where + " (after the crash)");
  Status finished = finish(&fs);
  ASSERT_TRUE(finished.ok()) << where << ": " << finished.ToString();
  ExpectLeafIntact(&fs, where + " (rolled forward)");
  ASSERT_OK_AND_ASSIGN(ChainCheckReport check, CheckChain(&fs, GetTemplate().paths[3]));
  EXPECT_FALSE(check.leaks()) << where;
}

uint64_t CountOps(const Operation& op) {
  CrashFileSystem fs;
  EXPECT_OK(fs.ImportFrom(const_cast<MemFileSystem*>(&GetTemplate().fs), "/"));
  uint64_t before = fs.mutating_ops();
  EXPECT_OK(op(&fs));
  return fs.mutating_ops() - before;
}

void CrashEverywhere(const Operation& op, const Operation& finish) {
  uint64_t ops = CountOps(op);
  ASSERT_GT(ops, 3u);
  struct Mode {
    uint64_t seed;
    CrashMode mode;
  };
  const Mode modes[] = {{1, CrashMode::kRandom},
                        {2, CrashMode::kRandom},
                        {0, CrashMode::kDropAll},
                        {0, CrashMode::kKeepAll}};
  for (uint64_t point = 1; point <= ops + 1; ++point) {
    if (kEveryModeAtEveryPoint) {
      for (const Mode& m : modes) CrashAt(op, finish, point, m.seed, m.mode);
    } else {  // one mode per point, rotating: every mode still meets every phase
      const Mode& m = modes[point % 4];
      CrashAt(op, finish, point, m.seed, m.mode);
    }
    if (::testing::Test::HasFailure()) return;
  }
}

Status MergeD2IntoBase(FileSystem* fs) {
  const auto& p = GetTemplate().paths;
  return Merge(fs, p[2], {.into = p[0], .dependents = {p[3]}}).status();
}

// Roll forward: rerun the merge while its child still exists; remove what it left otherwise.
Status FinishMerge(FileSystem* fs) {
  const auto& p = GetTemplate().paths;
  if (*fs->Exists(p[2])) {
    auto r = Merge(fs, p[2], {.into = p[0], .dependents = {p[3]}});
    if (r.ok() || r.status().code() != Code::kNotFound) return r.status();
  }
  for (const std::string& x : {p[2], p[1]}) {
    if (*fs->Exists(x)) RETURN_IF_ERROR(fs->Unlink(x));
  }
  return fs->SyncDir("/s");
}

TEST(ChainCrashTest, MergeSurvivesACrashAtEveryOperation) {
  CrashEverywhere(MergeD2IntoBase, FinishMerge);
}

Status ReparentD2OntoCopy(FileSystem* fs) {
  return Reparent(fs, GetTemplate().paths[2], "/s/copy-d1.avhdx", false);
}

TEST(ChainCrashTest, ReparentSurvivesACrashAtEveryOperation) {
  CrashEverywhere(ReparentD2OntoCopy, ReparentD2OntoCopy);
}

}  // namespace
}  // namespace hvdisk::chain
