// check tells the truth and check -r repairs (vhdx/repair.h): each damage of the corruption suite
// that a repair can fix without guessing is fixed to a clean check, through the header protocol or
// the log, surviving a crash at every I/O point, and no sector that a read returned before the
// repair reads differently after it. Layout of the images (Image::Create): headers @64K/128K,
// region tables @192K/256K, log @1 MiB, metadata @2 MiB, BAT @3 MiB.
#include "vhdx/repair.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "platform/crash_file_system.h"
#include "platform/crc32c.h"
#include "platform/mem_file_system.h"
#include "tests/testutil/crash_sweep.h"
#include "tests/testutil/testutil.h"
#include "vhdx/format.h"
#include "vhdx/image.h"

namespace hvdisk::vhdx {
namespace {

constexpr char kPath[] = "/r.vhdx";
constexpr uint64_t kBat = 3 * kMiB;
constexpr uint64_t kHeaders[] = {64 * kKiB, 128 * kKiB};
constexpr uint64_t kTables[] = {192 * kKiB, 256 * kKiB};

void PutU64(std::string& b, uint64_t off, uint64_t v) { std::memcpy(b.data() + off, &v, 8); }
uint64_t GetU64(const std::string& b, uint64_t off) {
  uint64_t v = 0;
  std::memcpy(&v, b.data() + off, 8);
  return v;
}
void Flip(std::string& b, uint64_t off) { b[off] = static_cast<char>(b[off] ^ 0x5a); }

// An 8 MiB image with 1 MiB blocks, blocks 0 and 5 written (BAT entries 0 and 5); closed, or
// with its log dirty.
std::string MakeImage(DiskType type = DiskType::kDynamic, bool dirty = false) {
  MemFileSystem fs;
  CreateOptions o{.type = type, .virtual_size = 8 * kMiB, .block_size = kMiB};
  if (type == DiskType::kDifferencing) {
    o.parent_locator = {{"parent_linkage", "{01234567-89ab-cdef-0123-456789abcdef}"},
                        {"relative_path", ".\\p.vhdx"}};
  }
  EXPECT_OK(Image::Create(&fs, kPath, o));
  auto img = Image::Open(&fs, kPath, {.read_only = false});
  EXPECT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_OK((*img)->Write(0, testing::PatternBytes(4096, 1)));
  EXPECT_OK((*img)->Write(5 * kMiB + 512, testing::PatternBytes(4096, 2)));
  EXPECT_OK((*img)->Flush());
  if (!dirty) EXPECT_OK((*img)->Close());
  return *fs.GetFile(kPath);
}

// The whole virtual disk as `read` returns it, or nullopt when the image does not open.
std::optional<std::string> ReadAll(FileSystem* fs) {
  auto img = Image::Open(fs, kPath, {});
  if (!img.ok()) return std::nullopt;
  std::string out((*img)->virtual_size(), '\0');
  Status st = (*img)->Read(0, std::as_writable_bytes(std::span(out.data(), out.size())));
  if (!st.ok()) return std::nullopt;
  return out;
}

CheckReport CheckOf(FileSystem* fs) {
  auto r = Image::Check(fs, kPath);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : CheckReport{};
}

bool Clean(const CheckReport& r) {
  return r.corruptions.empty() && r.leaks.empty() && r.warnings.empty();
}

// Repairs `bytes` in a MemFileSystem with `mode`; the file's bytes afterwards in *out.
RepairReport RepairBytes(const std::string& bytes, RepairMode mode, MemFileSystem* fs) {
  EXPECT_OK(fs->PutFile(kPath, bytes));
  auto r = Repair(fs, kPath, mode);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : RepairReport{};
}

std::string Joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& e : v) s += e + "\n";
  return s;
}

TEST(CheckTruth, ACleanImageChecksCleanAndRepairChangesNoData) {
  MemFileSystem fs;
  const std::string image = MakeImage();
  ASSERT_OK(fs.PutFile(kPath, image));
  EXPECT_TRUE(Clean(CheckOf(&fs))) << Joined(CheckOf(&fs).warnings);
  std::optional<std::string> before = ReadAll(&fs);
  RepairReport r = RepairBytes(image, RepairMode::kAll, &fs);
  EXPECT_TRUE(r.actions.empty()) << Joined(r.actions);
  EXPECT_TRUE(Clean(CheckOf(&fs)));
  EXPECT_EQ(ReadAll(&fs), before);
}

TEST(CheckTruth, ABrokenHeaderCopyIsARepairableWarningThatRepairRewrites) {
  for (int slot : {0, 1}) {
    MemFileSystem fs;
    std::string image = MakeImage();
    Flip(image, kHeaders[slot] + 100);  // its checksum no longer matches
    ASSERT_OK(fs.PutFile(kPath, image));
    CheckReport before = CheckOf(&fs);
    EXPECT_TRUE(before.corruptions.empty()) << Joined(before.corruptions);
    ASSERT_EQ(before.warnings.size(), 1u) << "slot " << slot;
    EXPECT_NE(before.warnings[0].find("header " + std::to_string(slot + 1)), std::string::npos);
    EXPECT_NE(before.warnings[0].find("checksum"), std::string::npos) << before.warnings[0];
    EXPECT_NE(before.warnings[0].find("repair rewrites it"), std::string::npos);
    RepairReport r = RepairBytes(image, RepairMode::kLeaks, &fs);
    EXPECT_NE(Joined(r.actions).find("header " + std::to_string(slot + 1) + " rewritten"),
              std::string::npos)
        << Joined(r.actions);
    EXPECT_TRUE(Clean(CheckOf(&fs))) << Joined(CheckOf(&fs).warnings);
    // Both copies valid again, with consecutive sequence numbers and one FileWriteGuid.
    const std::string after = *fs.GetFile(kPath);
    EXPECT_EQ(after.substr(kHeaders[0] + 16, 16), after.substr(kHeaders[1] + 16, 16));
    const uint64_t s1 = GetU64(after, kHeaders[0] + 8), s2 = GetU64(after, kHeaders[1] + 8);
    EXPECT_EQ(std::max(s1, s2) - std::min(s1, s2), 1u) << s1 << " " << s2;
  }
}

TEST(CheckTruth, ABrokenRegionTableCopyIsARepairableWarningThatRepairRewritesThroughTheLog) {
  for (int slot : {0, 1}) {
    MemFileSystem fs;
    std::string image = MakeImage();
    Flip(image, kTables[slot] + 20);
    ASSERT_OK(fs.PutFile(kPath, image));
    CheckReport before = CheckOf(&fs);
    ASSERT_EQ(before.warnings.size(), 1u) << Joined(before.corruptions);
    EXPECT_NE(before.warnings[0].find("region table " + std::to_string(slot + 1)),
              std::string::npos);
    RepairReport r = RepairBytes(image, RepairMode::kLeaks, &fs);
    EXPECT_NE(Joined(r.actions).find("region table " + std::to_string(slot + 1) + " rewritten"),
              std::string::npos)
        << Joined(r.actions);
    EXPECT_TRUE(Clean(CheckOf(&fs)));
    const std::string after = *fs.GetFile(kPath);
    EXPECT_EQ(after.substr(kTables[0], 64 * kKiB), after.substr(kTables[1], 64 * kKiB));
  }
}

// The Windows structures (tests/testdata): a Windows 10 header in both slots and its region
// table in both copies, laid over an image of the same layout, check with no finding at all.
TEST(CheckTruth, WindowsMadeStructuresCheckClean) {
  MemFileSystem fs;
  std::string image = MakeImage();
  std::vector<std::byte> header = testing::ReadTestData("image_header.1");
  std::vector<std::byte> table = testing::ReadTestData("region_table.1");
  std::vector<std::byte> id = testing::ReadTestData("file_identifier.1");
  ASSERT_EQ(header.size(), 4096u);
  for (uint64_t h : kHeaders) std::memcpy(image.data() + h, header.data(), header.size());
  for (uint64_t t : kTables) {
    std::memset(image.data() + t, 0, 64 * kKiB);
    std::memcpy(image.data() + t, table.data(), table.size());
  }
  std::memset(image.data(), 0, 64 * kKiB);
  std::memcpy(image.data(), id.data(), id.size());
  ASSERT_OK(fs.PutFile(kPath, image));
  CheckReport r = CheckOf(&fs);
  EXPECT_TRUE(Clean(r)) << Joined(r.corruptions) << Joined(r.leaks) << Joined(r.warnings);
}

TEST(CheckTruth, SpacePastTheLastObjectIsALeakThatRepairFrees) {
  MemFileSystem fs;
  std::string image = MakeImage();
  const size_t size = image.size();
  image.append(3 * kMiB, '\0');
  ASSERT_OK(fs.PutFile(kPath, image));
  ASSERT_EQ(CheckOf(&fs).leaks.size(), 1u);
  RepairReport r = RepairBytes(image, RepairMode::kLeaks, &fs);
  EXPECT_NE(Joined(r.actions).find("freed 0x300000"), std::string::npos) << Joined(r.actions);
  EXPECT_EQ(fs.GetFile(kPath)->size(), size);
  EXPECT_TRUE(Clean(CheckOf(&fs)));
}

TEST(Repair, ADirtyLogIsReplayedAndOneWithoutAValidSequenceIsDiscardedByAll) {
  MemFileSystem fs;
  const std::string dirty = MakeImage(DiskType::kDynamic, /*dirty=*/true);
  ASSERT_OK(fs.PutFile(kPath, dirty));
  std::optional<std::string> before = ReadAll(&fs);
  ASSERT_TRUE(before.has_value());
  RepairReport r = RepairBytes(dirty, RepairMode::kLeaks, &fs);
  EXPECT_NE(Joined(r.actions).find("replayed the log"), std::string::npos) << Joined(r.actions);
  EXPECT_TRUE(Clean(CheckOf(&fs)));
  EXPECT_EQ(ReadAll(&fs), before);

  std::string broken = MakeImage();  // LogGuid set over a log with no valid entry
  for (uint64_t h : kHeaders) {
    PutU64(broken, h + 48, 0x42);
    auto span = std::as_writable_bytes(std::span(broken.data() + h, 4096));
    uint32_t crc = Crc32cWithZeroedField(span, 4);
    std::memcpy(broken.data() + h + 4, &crc, 4);
  }
  RepairBytes(broken, RepairMode::kLeaks, &fs);
  EXPECT_FALSE(CheckOf(&fs).corruptions.empty()) << "leaks never discards a log";
  r = RepairBytes(broken, RepairMode::kAll, &fs);
  EXPECT_NE(Joined(r.actions).find("discarded the log"), std::string::npos) << Joined(r.actions);
  EXPECT_TRUE(Clean(CheckOf(&fs)));
}

// The BAT damage of the corruption suite, each cleared by check -r all to a clean check, the
// damaged entry's virtual range reported lost, the other block's data kept (two entries sharing a
// block: the lower index keeps it, the other's range is lost).
TEST(Repair, EveryInvalidBatEntryIsClearedAndItsRangeReportedLost) {
  struct Case {
    uint64_t index, value;
    bool lost;
  };
  const std::string image = MakeImage();
  const uint64_t block5 = GetU64(image, kBat + 8 * 5);
  for (const Case& c : std::vector<Case>{{0, (64 * kMiB) | 6, true},  // past the end
                                         {0, (uint64_t{1} << 62) | 6, true},
                                         {0, 6, true},               // offset 0
                                         {0, kMiB | 6, true},        // into the log
                                         {0, (2 * kMiB) | 6, true},  // into the metadata
                                         {0, kBat | 6, true},        // into the BAT
                                         {0, block5, true},          // block 5's block
                                         {1, 4, false},              // reserved states
                                         {1, 5, false},
                                         {1, 7 | (6 * kMiB), true},    // PARTIALLY in a base
                                         {1, 2 | (1 << 3), false}}) {  // reserved bits
    MemFileSystem fs;
    std::string bad = image;
    PutU64(bad, kBat + 8 * c.index, c.value);
    ASSERT_OK(fs.PutFile(kPath, bad));
    ASSERT_FALSE(CheckOf(&fs).corruptions.empty()) << c.value;
    RepairReport r = RepairBytes(bad, RepairMode::kAll, &fs);
    CheckReport after = CheckOf(&fs);
    EXPECT_TRUE(Clean(after)) << std::hex << c.value << ": " << Joined(after.corruptions)
                              << Joined(after.leaks) << Joined(r.actions);
    EXPECT_EQ(r.lost.size(), c.lost ? 1u : 0u) << std::hex << c.value << Joined(r.actions);
    const bool shared = c.value == block5;  // the lower index keeps a shared block
    if (c.lost && !r.lost.empty()) {
      EXPECT_EQ(r.lost[0].offset, (shared ? 5 : c.index) * kMiB);
    }
    if (shared) continue;
    std::optional<std::string> data = ReadAll(&fs);
    ASSERT_TRUE(data.has_value());
    auto five = testing::PatternBytes(4096, 2);
    EXPECT_EQ(0, std::memcmp(data->data() + 5 * kMiB + 512, five.data(), five.size()));
  }
}

// The corruption suite's truncated file: the blocks past the new end are lost, the rest is kept.
TEST(Repair, ATruncatedFileLosesOnlyTheBlocksPastItsEnd) {
  const std::string image = MakeImage();
  ASSERT_EQ(GetU64(image, kBat + 8 * 5) >> 20, image.size() / kMiB - 1) << "block 5 is last";
  MemFileSystem fs;
  const std::string cut = image.substr(0, image.size() - kMiB + 4096);
  ASSERT_OK(fs.PutFile(kPath, cut));
  ASSERT_FALSE(CheckOf(&fs).corruptions.empty());
  RepairReport r = RepairBytes(cut, RepairMode::kAll, &fs);
  EXPECT_TRUE(Clean(CheckOf(&fs))) << Joined(CheckOf(&fs).corruptions) << Joined(r.actions);
  ASSERT_EQ(r.lost.size(), 1u) << Joined(r.actions);
  EXPECT_EQ(r.lost[0].offset, 5 * kMiB);
  std::optional<std::string> data = ReadAll(&fs);
  ASSERT_TRUE(data.has_value());
  auto zero = testing::PatternBytes(4096, 1);
  EXPECT_EQ(0, std::memcmp(data->data(), zero.data(), zero.size()));
}

// The corruption suite's cuts inside the BAT region (@3 MiB, 1 MiB long; the metadata intact):
// the file is extended over the region, and everything from the first entry lost is lost.
TEST(Repair, AFileCutInsideItsBatIsExtendedAndTheEntriesPastTheCutReportedLost) {
  const std::string image = MakeImage();
  for (uint64_t size : {kBat, kBat + 4096, kBat + 8}) {
    SCOPED_TRACE(size);
    MemFileSystem fs;
    const std::string cut = image.substr(0, size);
    ASSERT_OK(fs.PutFile(kPath, cut));
    ASSERT_FALSE(CheckOf(&fs).corruptions.empty());
    RepairReport r = RepairBytes(cut, RepairMode::kAll, &fs);
    EXPECT_TRUE(Clean(CheckOf(&fs))) << Joined(CheckOf(&fs).corruptions) << Joined(r.actions);
    EXPECT_NE(Joined(r.actions).find("extended the file"), std::string::npos) << Joined(r.actions);
    const uint64_t kept = size <= kBat ? 0 : (size - kBat) / 8;  // entries left (8 in all)
    auto gone = std::find_if(r.lost.begin(), r.lost.end(), [](const LostRange& l) {
      return l.why.find("end of the file") != std::string::npos;
    });
    if (kept >= 8) {
      EXPECT_EQ(gone, r.lost.end()) << "every entry survived the cut";
    } else {
      ASSERT_NE(gone, r.lost.end()) << Joined(r.actions);
      EXPECT_EQ(gone->offset, kept * kMiB);
      EXPECT_EQ(gone->offset + gone->length, 8 * kMiB);
    }
    EXPECT_TRUE(ReadAll(&fs).has_value());
  }
}

// Metadata damage is not guessed at: repair says so and the check still reports it.
TEST(Repair, DamagedMetadataIsLeftWithAMessageNamingSalvage) {
  std::string bad = MakeImage();
  Flip(bad, 2 * kMiB);  // the metadata table's signature
  MemFileSystem fs;
  RepairReport r = RepairBytes(bad, RepairMode::kAll, &fs);
  EXPECT_NE(Joined(r.left).find("convert --salvage"), std::string::npos) << Joined(r.left);
  EXPECT_FALSE(CheckOf(&fs).corruptions.empty());
}

TEST(Repair, AChildsPartiallyPresentBlockWithoutItsBitmapBecomesNotPresent) {
  MemFileSystem fs;
  std::string child = MakeImage(DiskType::kDifferencing);
  const uint64_t sb = kBat + 8 * 4096;  // chunk ratio 4096: the chunk's sector bitmap entry
  ASSERT_EQ(GetU64(child, sb) & 7, 6u);
  PutU64(child, sb, 0);
  ASSERT_OK(fs.PutFile(kPath, child));
  ASSERT_FALSE(CheckOf(&fs).corruptions.empty());
  RepairReport r = RepairBytes(child, RepairMode::kAll, &fs);
  EXPECT_TRUE(Clean(CheckOf(&fs))) << Joined(CheckOf(&fs).corruptions) << Joined(r.actions);
  EXPECT_NE(Joined(r.actions).find("without its sector bitmap"), std::string::npos)
      << Joined(r.actions);
  const std::string after = *fs.GetFile(kPath);
  for (uint64_t i : {0, 5}) {
    const uint64_t e = GetU64(after, kBat + 8 * i) & 7;
    EXPECT_TRUE(e == 0 || e == 6) << i << ": " << e;  // NOT_PRESENT (or a full block, kept)
  }
}

// Rewrites the CRC-32C of the 4 KiB header at `h` (or of a 64 KiB region table).
void Recrc(std::string& b, uint64_t at, size_t length = 4096) {
  auto span = std::as_writable_bytes(std::span(b.data() + at, length));
  const uint32_t crc = Crc32cWithZeroedField(span, 4);
  std::memcpy(b.data() + at + 4, &crc, 4);
}

// Repairs `bad` with `mode`: the file checks clean after, and reads what `image` read.
void ExpectRepairedToClean(const std::string& image, const std::string& bad, RepairMode mode,
                           const std::string& action) {
  MemFileSystem fs;
  ASSERT_OK(fs.PutFile(kPath, image));
  std::optional<std::string> before = ReadAll(&fs);
  ASSERT_OK(fs.PutFile(kPath, bad));
  ASSERT_FALSE(CheckOf(&fs).corruptions.empty()) << "the damage is corruption before the repair";
  RepairReport r = RepairBytes(bad, mode, &fs);
  CheckReport after = CheckOf(&fs);
  EXPECT_TRUE(Clean(after)) << Joined(after.corruptions) << Joined(after.warnings)
                            << Joined(r.actions) << Joined(r.left);
  EXPECT_NE(Joined(r.actions).find(action), std::string::npos) << Joined(r.actions);
  EXPECT_TRUE(r.left.empty()) << Joined(r.left);
  EXPECT_EQ(ReadAll(&fs), before);
  const std::string out = *fs.GetFile(kPath);  // DataWriteGuid (what children link to) kept
  EXPECT_EQ(out.substr(kHeaders[0] + 32, 16), image.substr(kHeaders[0] + 32, 16));
}

TEST(RepairRebuild, BothHeadersTornAreRebuiltFromTheFieldsTheirCopiesAgreeOn) {
  const std::string image = MakeImage();
  std::string bad = image;
  Flip(bad, kHeaders[0] + 100);
  Flip(bad, kHeaders[1] + 100);
  ExpectRepairedToClean(image, bad, RepairMode::kLeaks, "both headers rewritten");
  Flip(bad, kHeaders[1]);  // a signature gone too
  ExpectRepairedToClean(image, bad, RepairMode::kLeaks, "both headers rewritten");
}

TEST(RepairRebuild, HeadersWithEqualSequenceNumbersThatDifferOnlyInFileWriteGuidAreRebuilt) {
  const std::string image = MakeImage();
  std::string bad = image;
  const uint64_t seq = GetU64(bad, kHeaders[0] + 8);
  for (uint64_t h : kHeaders) PutU64(bad, h + 8, seq);
  PutU64(bad, kHeaders[1] + 16, 0x1234);
  for (uint64_t h : kHeaders) Recrc(bad, h);
  ExpectRepairedToClean(image, bad, RepairMode::kLeaks, "both headers rewritten");
}

// The corruption suite's log locations: outside the file, misaligned, over the metadata. The log
// is clean, so a new empty one goes to the first free MiB (the log's own, at 1 MiB).
TEST(RepairRebuild, ALogTheFileCannotHoldIsReplacedByAnEmptyLogInFreeSpace) {
  const std::string image = MakeImage();
  for (auto [offset, length] : std::vector<std::pair<uint64_t, uint32_t>>{{64 * kMiB, kMiB},
                                                                          {kMiB, 1000},
                                                                          {kMiB + 4096, kMiB},
                                                                          {0, kMiB},
                                                                          {2 * kMiB, kMiB},
                                                                          {kMiB, 0xFFF00000u}}) {
    std::string bad = image;
    for (uint64_t h : kHeaders) {
      PutU64(bad, h + 72, offset);
      std::memcpy(bad.data() + h + 68, &length, 4);
      Recrc(bad, h);
    }
    SCOPED_TRACE("log @" + std::to_string(offset) + " length " + std::to_string(length));
    ExpectRepairedToClean(image, bad, RepairMode::kLeaks, "new empty log placed @0x100000");
  }
}

TEST(RepairRebuild, BothRegionTablesDamagedAreRebuiltFromTheRegionsTheFileHolds) {
  const std::string image = MakeImage();
  std::string bad = image;
  Flip(bad, kTables[0] + 20);  // the BAT entry's GUID
  Flip(bad, kTables[1]);       // the signature
  ExpectRepairedToClean(image, bad, RepairMode::kLeaks, "both region tables rewritten");
  const std::string after = [&] {
    MemFileSystem fs;
    RepairBytes(bad, RepairMode::kLeaks, &fs);
    return *fs.GetFile(kPath);
  }();
  EXPECT_EQ(after.substr(kTables[0], 64 * kKiB), after.substr(kTables[1], 64 * kKiB));
}

TEST(RepairRebuild, AFlippedFileIdentifierSignatureIsRewritten) {
  const std::string image = MakeImage();
  std::string bad = image;
  Flip(bad, 3);
  ExpectRepairedToClean(image, bad, RepairMode::kLeaks, "file identifier signature rewritten");
}

// Damage with which repair must not guess stays corrupt, repair says why, and writes nothing.
TEST(Repair, DamageBeyondRepairIsLeftWithItsReasonAndNothingWritten) {
  struct Case {
    std::string name, bad, reason;
  };
  std::vector<Case> cases;
  const std::string image = MakeImage();
  std::string v2 = image;  // a version this build does not know, in both copies
  for (uint64_t h : kHeaders) {
    v2[h + 66] = 2;
    Recrc(v2, h);
  }
  cases.push_back({"version 2", v2, "a format this build does not know"});
  std::string split = image;  // equal sequence numbers, different DataWriteGuids
  const uint64_t seq = GetU64(split, kHeaders[0] + 8);
  for (uint64_t h : kHeaders) PutU64(split, h + 8, seq);
  PutU64(split, kHeaders[1] + 32, 0x1234);
  for (uint64_t h : kHeaders) Recrc(split, h);
  cases.push_back({"split", split, "disagree on DataWriteGuid"});
  for (const Case& c : cases) {
    MemFileSystem fs;
    RepairReport r = RepairBytes(c.bad, RepairMode::kAll, &fs);
    EXPECT_TRUE(r.actions.empty()) << c.name << Joined(r.actions);
    EXPECT_NE(Joined(r.left).find(c.reason), std::string::npos) << c.name << Joined(r.left);
    EXPECT_EQ(*fs.GetFile(kPath), c.bad) << c.name << ": nothing written";
  }
}

// Repairs `bad` once counting its I/O, then again interrupted at each I/O point: the file opens
// afterwards, and a second repair ends clean with block 5 intact.
void ExpectRepairSurvivesACrashEverywhere(const std::string& bad) {
  MemFileSystem src;
  ASSERT_OK(src.PutFile(kPath, bad));
  uint64_t ops = 0;
  {
    CrashFileSystem fs;
    ASSERT_OK(fs.ImportFrom(&src, "/"));
    const uint64_t start = fs.mutating_ops();
    ASSERT_OK(Repair(&fs, kPath, RepairMode::kAll).status());
    ops = fs.mutating_ops() - start;
  }
  ASSERT_GT(ops, 10u);
  const auto five = testing::PatternBytes(4096, 2);
  testing::CrashEverywhere(ops, [&](const testing::CrashRun& run) {
    CrashFileSystem fs;
    ASSERT_OK(fs.ImportFrom(&src, "/"));
    fs.SetCrashPoint(run.point);
    (void)Repair(&fs, kPath, RepairMode::kAll);
    fs.Crash(run.seed, run.mode);
    Status again = Repair(&fs, kPath, RepairMode::kAll).status();
    ASSERT_TRUE(again.ok()) << run.where << ": " << again.ToString();
    auto check = Image::Check(&fs, kPath);
    ASSERT_TRUE(check.ok()) << run.where;
    EXPECT_TRUE(Clean(*check)) << run.where << Joined(check->corruptions) << Joined(check->leaks)
                               << Joined(check->warnings);
    std::optional<std::string> data = ReadAll(&fs);
    ASSERT_TRUE(data.has_value()) << run.where;
    EXPECT_EQ(0, std::memcmp(data->data() + 5 * kMiB + 512, five.data(), five.size())) << run.where;
  });
}

// A repair with every kind of step (header copy, region table copy, BAT entry, leaked tail).
TEST(RepairCrash, ARepairSurvivesACrashAtEveryOperation) {
  std::string bad = MakeImage();
  Flip(bad, kHeaders[1] + 100);
  Flip(bad, kTables[1] + 20);
  PutU64(bad, kBat, (64 * kMiB) | 6);
  bad.append(2 * kMiB, '\0');
  ExpectRepairSurvivesACrashEverywhere(bad);
}

// The rebuilds: both headers (with a log outside the file), both region tables, the identifier.
TEST(RepairCrash, ARebuildOfEveryStructureSurvivesACrashAtEveryOperation) {
  std::string bad = MakeImage();
  for (uint64_t h : kHeaders) {
    PutU64(bad, h + 72, 64 * kMiB);
    Recrc(bad, h);
    Flip(bad, h + 100);
  }
  Flip(bad, kTables[0] + 20);
  Flip(bad, kTables[1]);
  Flip(bad, 3);
  ExpectRepairSurvivesACrashEverywhere(bad);
}

// Seeded mutations of the header section and the BAT (flipped bytes, entries pointing anywhere):
// whatever `read` returned before check -r all, it returns after; and the repaired file checks
// without corruption whenever the metadata survived.
TEST(RepairProperty, RepairNeverLosesASectorThatReadReturnedBeforeIt) {
  const std::string image = MakeImage(DiskType::kDynamic, /*dirty=*/true);
  std::mt19937_64 rng(19);
  for (int trial = 0; trial < 120; ++trial) {
    std::string bad = image;
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 3) {
        case 0:  // a byte of a header copy
          Flip(bad, kHeaders[rng() % 2] + rng() % 128);
          break;
        case 1:  // a byte of a region table copy
          Flip(bad, kTables[rng() % 2] + rng() % 96);
          break;
        default:  // a BAT entry pointing at a random MiB with a random state
          PutU64(bad, kBat + 8 * (rng() % 8), ((rng() % 12) * kMiB) | (rng() % 8));
      }
    }
    MemFileSystem fs;
    ASSERT_OK(fs.PutFile(kPath, bad));
    std::optional<std::string> before = ReadAll(&fs);
    RepairReport r = RepairBytes(bad, RepairMode::kAll, &fs);
    std::optional<std::string> after = ReadAll(&fs);
    if (before.has_value()) {
      ASSERT_TRUE(after.has_value()) << "trial " << trial << Joined(r.actions);
      EXPECT_EQ(*before, *after) << "trial " << trial << Joined(r.actions);
    }
  }
}

}  // namespace
}  // namespace hvdisk::vhdx
