#include "platform/crash_file_system.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "platform/mem_file_system.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::hvdisk::testing::PatternBytes;

std::span<const std::byte> Bytes(std::string_view s) { return std::as_bytes(std::span(s)); }

std::string RandomString(size_t n, uint64_t seed) {
  std::vector<std::byte> b = PatternBytes(n, seed);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// Sector i of s, zero-padded (bytes beyond the end of a file read as absent, i.e. zero).
std::string Sector(const std::string& s, size_t i, size_t sector) {
  std::string out(sector, '\0');
  if (i * sector < s.size()) s.copy(out.data(), sector, i * sector);
  return out;
}

void Overwrite(std::string& s, uint64_t offset, const std::string& data) {
  if (s.size() < offset + data.size()) s.resize(offset + data.size(), '\0');
  s.replace(offset, data.size(), data);
}

Status WriteNew(FileSystem* fs, const std::string& path, std::string_view data, bool sync_dir) {
  ASSIGN_OR_RETURN(auto f, fs->Open(path, OpenOptions::CreateNew()));
  RETURN_IF_ERROR(f->WriteAt(0, Bytes(data)));
  RETURN_IF_ERROR(f->Flush());
  return sync_dir ? fs->SyncDir(DirName(path)) : Status::Ok();
}

// path -> content, or "<dir>" for a directory; the whole tree.
std::map<std::string, std::string> Snapshot(FileSystem* fs, const std::string& dir = "/") {
  std::map<std::string, std::string> out;
  auto names = fs->List(dir);
  EXPECT_TRUE(names.ok()) << names.status().ToString();
  if (!names.ok()) return out;
  for (const std::string& name : *names) {
    const std::string path = JoinPath(dir, name);
    if (*fs->IsDirectory(path)) {
      out[path] = "<dir>";
      out.merge(Snapshot(fs, path));
    } else {
      auto content = ReadWholeFile(fs, path);
      out[path] = content.ok() ? *content : content.status().ToString();
    }
  }
  return out;
}

class CrashSectorTest : public ::testing::TestWithParam<size_t> {};

struct SectorTally {
  int kept = 0;          // changed sectors that survived
  int dropped = 0;       // changed sectors that reverted
  int torn_crashes = 0;  // crashes that kept some changed sectors and dropped others
};

// Checks that every sector of `actual` is wholly the durable or wholly the current content.
void ExpectOldOrNewSectors(const std::string& actual, const std::string& durable,
                           const std::string& current, size_t ss, SectorTally* tally) {
  ASSERT_GE(actual.size(), durable.size());
  ASSERT_LE(actual.size(), current.size());
  int kept = 0, dropped = 0;
  for (size_t s = 0; s * ss < current.size(); ++s) {
    const std::string a = Sector(actual, s, ss);
    const std::string old_s = Sector(durable, s, ss);
    const std::string new_s = Sector(current, s, ss);
    ASSERT_TRUE(a == old_s || a == new_s) << "sector " << s << " is neither old nor new";
    if (old_s != new_s) ++(a == new_s ? kept : dropped);
  }
  tally->kept += kept;
  tally->dropped += dropped;
  tally->torn_crashes += kept > 0 && dropped > 0;
}

// Random writes and flushes on "/f", tracking the model; crashes; checks; three rounds per seed.
TEST_P(CrashSectorTest, RandomCrashKeepsFlushedWritesAndTearsOnlyAtSectors) {
  const size_t ss = GetParam();
  SectorTally tally;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    CrashFileSystem fs(ss);
    ASSERT_OK(WriteNew(&fs, "/f", "", true));
    std::string durable;  // the model: content as of the last completed Flush
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 3; ++round) {
      ASSERT_OK_AND_ASSIGN(auto f, fs.Open("/f", OpenOptions::ReadWrite()));
      std::string current = durable;
      for (int step = 0; step < 30; ++step) {
        if (rng() % 8 == 0) {
          ASSERT_OK(f->Flush());
          durable = current;
          continue;
        }
        const uint64_t offset = rng() % (12 * ss);
        const std::string data = RandomString(1 + rng() % (3 * ss), rng());
        ASSERT_OK(f->WriteAt(offset, Bytes(data)));
        Overwrite(current, offset, data);
      }
      fs.Crash(seed * 10 + round, CrashMode::kRandom);
      EXPECT_CODE(f->WriteAt(0, Bytes("x")), Code::kIoError);
      ASSERT_OK_AND_ASSIGN(std::string actual, ReadWholeFile(&fs, "/f"));
      ASSERT_NO_FATAL_FAILURE(ExpectOldOrNewSectors(actual, durable, current, ss, &tally));
      durable = actual;
    }
  }
  EXPECT_GT(tally.kept, 0);
  EXPECT_GT(tally.dropped, 0);
  EXPECT_GT(tally.torn_crashes, 0);
}

TEST_P(CrashSectorTest, PartialSectorWriteSurvivesOrVanishesWhole) {
  const size_t ss = GetParam();
  const std::string old_content(2 * ss, 'a');
  std::string new_content = old_content;
  Overwrite(new_content, ss - 5, "0123456789");  // straddles sectors 0 and 1
  bool saw_old = false, saw_new = false;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    CrashFileSystem fs(ss);
    ASSERT_OK(WriteNew(&fs, "/f", old_content, true));
    ASSERT_OK_AND_ASSIGN(auto f, fs.Open("/f", OpenOptions::ReadWrite()));
    ASSERT_OK(f->WriteAt(ss - 5, Bytes("0123456789")));
    fs.Crash(seed, CrashMode::kRandom);
    ASSERT_OK_AND_ASSIGN(std::string actual, fs.GetFile("/f"));
    ASSERT_EQ(actual.size(), 2 * ss);
    for (size_t s = 0; s < 2; ++s) {
      const std::string a = Sector(actual, s, ss);
      ASSERT_TRUE(a == Sector(old_content, s, ss) || a == Sector(new_content, s, ss)) << seed;
      saw_old |= a == Sector(old_content, s, ss);
      saw_new |= a == Sector(new_content, s, ss);
    }
  }
  EXPECT_TRUE(saw_old && saw_new);
}

TEST_P(CrashSectorTest, TruncateAndAllocateSurviveAsOneSizeChange) {
  const size_t ss = GetParam();
  const std::string old_content = RandomString(8 * ss, 1);
  const std::string sector5 = RandomString(ss, 2);
  std::string new_content = old_content.substr(0, 2 * ss + ss / 2);
  new_content.resize(10 * ss, '\0');
  Overwrite(new_content, 5 * ss, sector5);
  int size_kept = 0, size_dropped = 0;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    CrashFileSystem fs(ss);
    ASSERT_OK(WriteNew(&fs, "/f", old_content, true));
    ASSERT_OK_AND_ASSIGN(auto f, fs.Open("/f", OpenOptions::ReadWrite()));
    ASSERT_OK(f->Truncate(2 * ss + ss / 2));
    ASSERT_OK(f->WriteAt(5 * ss, Bytes(sector5)));
    ASSERT_OK(f->Allocate(0, 10 * ss));
    fs.Crash(seed, CrashMode::kRandom);
    ASSERT_OK_AND_ASSIGN(std::string actual, fs.GetFile("/f"));
    // Either the size change (truncate + allocate) happened or not; sector 5 independently.
    const bool truncated = actual.size() == 10 * ss;
    ASSERT_TRUE(truncated || actual.size() == 8 * ss) << actual.size();
    const std::string& base = truncated ? new_content : old_content;
    for (size_t s = 0; s < 10; ++s) {
      const std::string a = Sector(actual, s, ss);
      if (s == 5) {
        // The write kept, or dropped: then the truncate's zeros or the old content.
        const std::string dropped = truncated ? std::string(ss, '\0') : Sector(old_content, 5, ss);
        ASSERT_TRUE(a == sector5 || a == dropped) << seed;
        continue;
      }
      ASSERT_EQ(a, Sector(base, s, ss)) << "seed " << seed << " sector " << s;
    }
    ++(truncated ? size_kept : size_dropped);
    // Once flushed, exactly the new state survives any crash.
    ASSERT_OK_AND_ASSIGN(auto g, fs.Open("/f", OpenOptions::ReadWrite()));
    ASSERT_OK(g->Truncate(2 * ss + ss / 2));
    ASSERT_OK(g->WriteAt(5 * ss, Bytes(sector5)));
    ASSERT_OK(g->Allocate(0, 10 * ss));
    ASSERT_OK(g->Flush());
    fs.Crash(seed, CrashMode::kRandom);
    ASSERT_EQ(*fs.GetFile("/f"), new_content) << seed;
  }
  EXPECT_GT(size_kept, 0);
  EXPECT_GT(size_dropped, 0);
}

INSTANTIATE_TEST_SUITE_P(Crash, CrashSectorTest, ::testing::Values(512, 4096),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return "Sector" + std::to_string(info.param);
                         });

// A setup mixing durable and pending state, for the exact modes.
void MixedWorkload(CrashFileSystem& fs) {
  ASSERT_OK(WriteNew(&fs, "/a", "A1", true));
  ASSERT_OK_AND_ASSIGN(auto a, fs.Open("/a", OpenOptions::ReadWrite()));
  ASSERT_OK(a->WriteAt(0, Bytes("A2-longer")));  // not flushed
  ASSERT_OK(fs.CreateDir("/d"));
  ASSERT_OK(fs.SyncDir("/"));
  ASSERT_OK(WriteNew(&fs, "/b", "B", false));  // flushed, but its entry is not synced
  ASSERT_OK(WriteNew(&fs, "/d/c", "C", true));
  ASSERT_OK(WriteNew(&fs, "/d/e", "E", true));
  ASSERT_OK(fs.Unlink("/d/e"));  // not synced
}

TEST(CrashFileSystemTest, DropAllKeepsExactlyTheDurableState) {
  CrashFileSystem fs;
  MixedWorkload(fs);
  fs.Crash(0, CrashMode::kDropAll);
  // "/b" (create not synced) is gone, "/d/e" (unlink not synced) is back, "/a" as flushed.
  const std::map<std::string, std::string> want = {
      {"/a", "A1"}, {"/d", "<dir>"}, {"/d/c", "C"}, {"/d/e", "E"}};
  EXPECT_EQ(Snapshot(&fs), want);
}

TEST(CrashFileSystemTest, KeepAllKeepsExactlyTheCurrentState) {
  CrashFileSystem fs;
  MixedWorkload(fs);
  const std::map<std::string, std::string> before = Snapshot(&fs);
  fs.Crash(0, CrashMode::kKeepAll);
  EXPECT_EQ(Snapshot(&fs), before);
  EXPECT_EQ(before.at("/a"), "A2-longer");
  EXPECT_EQ(before.count("/d/e"), 0u);
}

TEST(CrashFileSystemTest, UnsyncedCreateIsKeptOrDroppedButSyncedOneSurvives) {
  int kept = 0, dropped = 0;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    CrashFileSystem fs;
    ASSERT_OK(WriteNew(&fs, "/synced", "S", true));
    ASSERT_OK(WriteNew(&fs, "/unsynced", "U", false));
    fs.Crash(seed, CrashMode::kRandom);
    EXPECT_EQ(*fs.GetFile("/synced"), "S");
    auto u = fs.GetFile("/unsynced");
    if (u.ok()) {
      EXPECT_EQ(*u, "U");  // flushed content comes with the entry
      ++kept;
    } else {
      EXPECT_CODE(u, Code::kNotFound);
      ++dropped;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(dropped, 0);
}

TEST(CrashFileSystemTest, RenameIsAllOrNothingAndDurableAfterSyncDir) {
  int kept = 0, dropped = 0;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    for (bool sync : {false, true}) {
      CrashFileSystem fs;
      ASSERT_OK(WriteNew(&fs, "/new", "new", true));
      ASSERT_OK(WriteNew(&fs, "/target", "old", true));
      ASSERT_OK(fs.Rename("/new", "/target"));
      if (sync) ASSERT_OK(fs.SyncDir("/"));
      fs.Crash(seed, CrashMode::kRandom);
      auto snap = Snapshot(&fs);
      const std::map<std::string, std::string> before = {{"/new", "new"}, {"/target", "old"}};
      const std::map<std::string, std::string> after = {{"/target", "new"}};
      if (sync) {
        EXPECT_EQ(snap, after) << seed;
      } else {
        EXPECT_TRUE(snap == before || snap == after) << seed;
        ++(snap == after ? kept : dropped);
      }
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(dropped, 0);
}

TEST(CrashFileSystemTest, UnsyncedUnlinkMayBeUndoneButSyncedOneStays) {
  int undone = 0;
  for (uint64_t seed = 0; seed < 64; ++seed) {
    CrashFileSystem fs;
    ASSERT_OK(WriteNew(&fs, "/x", "X", true));
    ASSERT_OK(WriteNew(&fs, "/y", "Y", true));
    ASSERT_OK(fs.Unlink("/x"));
    ASSERT_OK(fs.SyncDir("/"));
    ASSERT_OK(fs.Unlink("/y"));
    fs.Crash(seed, CrashMode::kRandom);
    EXPECT_CODE(fs.GetFile("/x"), Code::kNotFound);
    auto y = fs.GetFile("/y");
    if (y.ok()) {
      EXPECT_EQ(*y, "Y");
      ++undone;
    }
  }
  EXPECT_GT(undone, 0);
  EXPECT_LT(undone, 64);
}

TEST(CrashFileSystemTest, EntriesInAnUnsyncedDirectoryDieWithIt) {
  CrashFileSystem fs;
  ASSERT_OK(fs.CreateDir("/d"));
  ASSERT_OK(WriteNew(&fs, "/d/f", "F", true));  // synced in /d, but /d is not synced in "/"
  fs.Crash(0, CrashMode::kDropAll);
  EXPECT_CODE(fs.IsDirectory("/d"), Code::kNotFound);

  ASSERT_OK(fs.CreateDir("/d"));
  ASSERT_OK(fs.SyncDir("/"));
  ASSERT_OK(WriteNew(&fs, "/d/f", "F", true));
  fs.Crash(0, CrashMode::kDropAll);
  EXPECT_EQ(*fs.GetFile("/d/f"), "F");
}

TEST(CrashFileSystemTest, OpenHandlesDieInACrashAndReopenSeesSurvivors) {
  CrashFileSystem fs;
  ASSERT_OK(WriteNew(&fs, "/f", "durable", true));
  ASSERT_OK_AND_ASSIGN(auto f, fs.Open("/f", OpenOptions::ReadWrite()));
  ASSERT_OK(f->WriteAt(0, Bytes("DURABLE!")));
  fs.Crash(0, CrashMode::kDropAll);
  std::byte b[1];
  Status s = f->ReadAt(0, b).status();
  EXPECT_CODE(s, Code::kIoError);
  EXPECT_NE(s.message().find("simulated crash"), std::string::npos) << s.message();
  EXPECT_CODE(f->WriteAt(0, Bytes("x")), Code::kIoError);
  EXPECT_CODE(f->Flush(), Code::kIoError);
  EXPECT_CODE(f->Truncate(0), Code::kIoError);
  EXPECT_CODE(f->Allocate(0, 1), Code::kIoError);
  EXPECT_CODE(f->Size(), Code::kIoError);
  EXPECT_EQ(*ReadWholeFile(&fs, "/f"), "durable");
}

// One mutating op per step, at most `limit` steps; returns the first failure and leaves
// *done = steps completed.
Status RunSteps(FileSystem* fs, int limit, int* done) {
  std::unique_ptr<File> f, g;
  auto open = [&](std::unique_ptr<File>& out, const char* path, OpenOptions o) {
    auto r = fs->Open(path, o);
    if (r.ok()) out = std::move(r).value();
    return r.status();
  };
  const std::vector<std::function<Status()>> steps = {
      [&] { return fs->CreateDir("/d"); },
      [&] { return open(f, "/d/f", OpenOptions::CreateNew()); },
      [&] { return f->WriteAt(0, Bytes("hello")); },
      [&] { return f->Flush(); },
      [&] { return fs->SyncDir("/d"); },
      [&] { return f->WriteAt(5, Bytes(" world")); },
      [&] { return f->Truncate(8); },
      [&] { return f->Allocate(0, 20); },
      [&] { return open(g, "/g", OpenOptions::CreateOrTruncate()); },
      [&] { return g->WriteAt(0, Bytes("g")); },
      [&] { return fs->Rename("/g", "/d/g"); },
      [&] { return fs->SyncDir("/"); },
      [&] { return fs->Unlink("/d/f"); },
      [&] { return fs->CreateDir("/e"); },
      [&] { return fs->RemoveDir("/e"); },
  };
  *done = 0;
  for (const auto& step : steps) {
    if (*done == limit) break;
    RETURN_IF_ERROR(step());
    ++*done;
  }
  return Status::Ok();
}

TEST(CrashFileSystemTest, CrashPointStopsTheNthMutatingOpAndEverythingAfter) {
  int total;
  {
    CrashFileSystem fs;
    ASSERT_OK(RunSteps(&fs, 1000, &total));
    ASSERT_EQ(fs.mutating_ops(), static_cast<uint64_t>(total));
  }
  for (int n = 1; n <= total; ++n) {
    SCOPED_TRACE("crash point " + std::to_string(n));
    CrashFileSystem fs;
    fs.SetCrashPoint(static_cast<uint64_t>(n));
    int done;
    Status s = RunSteps(&fs, 1000, &done);
    EXPECT_EQ(done, n - 1);
    EXPECT_EQ(s.code(), Code::kIoError);
    EXPECT_NE(s.message().find("simulated crash"), std::string::npos) << s.message();
    EXPECT_TRUE(fs.crash_point_reached());
    // Everything fails from now on, reads included, and nothing more runs.
    EXPECT_CODE(fs.List("/"), Code::kIoError);
    EXPECT_CODE(fs.IsDirectory("/"), Code::kIoError);
    EXPECT_CODE(fs.Open("/d/f", OpenOptions::ReadOnly()), Code::kIoError);
    EXPECT_CODE(fs.CreateDir("/z"), Code::kIoError);
    EXPECT_EQ(fs.mutating_ops(), static_cast<uint64_t>(n - 1));
    // Keeping everything gives exactly the state before the stopped op.
    fs.Crash(0, CrashMode::kKeepAll);
    EXPECT_FALSE(fs.crash_point_reached());
    MemFileSystem ref;
    int ref_done;
    ASSERT_OK(RunSteps(&ref, n - 1, &ref_done));
    EXPECT_EQ(Snapshot(&fs), Snapshot(&ref));
    EXPECT_OK(fs.CreateDir("/after"));  // usable again
  }
}

TEST(CrashFileSystemTest, CrashPointCountsFromSetCrashPoint) {
  CrashFileSystem fs;
  ASSERT_OK(WriteNew(&fs, "/a", "a", true));  // 4 mutating ops
  EXPECT_EQ(fs.mutating_ops(), 4u);
  fs.SetCrashPoint(2);
  ASSERT_OK(fs.CreateDir("/x"));
  EXPECT_CODE(fs.CreateDir("/y"), Code::kIoError);
  fs.Crash(0, CrashMode::kKeepAll);
  EXPECT_EQ(*fs.IsDirectory("/x"), true);
  EXPECT_CODE(fs.IsDirectory("/y"), Code::kNotFound);
  fs.SetCrashPoint(0);  // disarmed: nothing trips
  for (int i = 0; i < 5; ++i) ASSERT_OK(fs.SyncDir("/"));
}

TEST(CrashFileSystemTest, ImportIsDurableAndExportCopiesTheSurvivingTree) {
  MemFileSystem src;
  const std::string image = RandomString(100000, 5);
  ASSERT_OK(src.PutFile("/img/a.vhdx", image));
  ASSERT_OK(src.PutFile("/img/sub/b", "b"));
  CrashFileSystem fs(4096);
  ASSERT_OK(fs.ImportFrom(&src, "/img"));
  fs.Crash(0, CrashMode::kDropAll);
  EXPECT_EQ(*fs.GetFile("/a.vhdx"), image);
  ASSERT_OK_AND_ASSIGN(auto f, fs.Open("/a.vhdx", OpenOptions::ReadWrite()));
  ASSERT_OK(f->WriteAt(0, Bytes("torn")));
  ASSERT_OK(f->Flush());
  MemFileSystem out;
  ASSERT_OK(fs.ExportTo(&out, "/out"));
  EXPECT_EQ(*out.GetFile("/out/a.vhdx"), "torn" + image.substr(4));
  EXPECT_EQ(*out.GetFile("/out/sub/b"), "b");
}

TEST(CrashFileSystemTest, CrashDuringConcurrentWritersKeepsWholeSectorsOnly) {
  constexpr size_t kSector = 512;
  constexpr int kThreads = 4;
  constexpr uint64_t kWrites = 4000;
  CrashFileSystem fs(kSector);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_OK(WriteNew(&fs, "/t" + std::to_string(t), "", true));
  }
  std::atomic<uint64_t> started[kThreads] = {};
  uint64_t flushed[kThreads] = {};  // sectors covered by a completed Flush
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto f = fs.Open("/t" + std::to_string(t), OpenOptions::ReadWrite()).value();
      for (uint64_t i = 0; i < kWrites; ++i) {
        started[t] = i + 1;
        if (!f->WriteAt(i * kSector, PatternBytes(kSector, t * kWrites + i)).ok()) return;
        if (i % 16 == 15) {
          if (!f->Flush().ok()) return;
          flushed[t] = i + 1;
        }
      }
    });
  }
  for (int t = 0; t < kThreads; ++t) {
    while (started[t] < 50) std::this_thread::yield();
  }
  fs.Crash(7, CrashMode::kRandom);
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_OK_AND_ASSIGN(std::string got, fs.GetFile("/t" + std::to_string(t)));
    ASSERT_EQ(got.size() % kSector, 0u);
    for (uint64_t i = 0; i * kSector < got.size(); ++i) {
      const std::string sector = Sector(got, i, kSector);
      const std::string mine = RandomString(kSector, t * kWrites + i);
      ASSERT_TRUE(sector == mine || (i >= flushed[t] && sector == std::string(kSector, '\0')))
          << "thread " << t << " sector " << i;
    }
    EXPECT_GE(got.size(), flushed[t] * kSector);
  }
}

}  // namespace
}  // namespace hvdisk
