#include "ops/epoch.h"

#include <charconv>
#include <span>

#include "ops/store_files.h"
#include "platform/file_lock.h"

namespace hvdisk::ops {
namespace {

constexpr uint64_t kMaxEpochFileBytes = 64;
constexpr std::chrono::milliseconds kEpochLockWait{10000};

std::string EpochLockPath(const StoreLayout& layout) {
  return JoinPath(layout.LocksDir(), "epoch.lock");
}

// The number `text` holds (trailing whitespace allowed), or nullopt.
std::optional<uint64_t> ParseEpoch(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string StoreEpochPath(const StoreLayout& layout) { return layout.Abs("epoch"); }

Result<uint64_t> ReadStoreEpoch(FileSystem* fs, const StoreLayout& layout) {
  const std::string path = StoreEpochPath(layout);
  Result<std::string> text = ReadStoreFile(fs, path, kMaxEpochFileBytes);
  if (!text.ok() && text.status().code() == Code::kNotFound) return uint64_t{0};
  if (!text.ok()) return text.status();
  std::optional<uint64_t> epoch = ParseEpoch(*text);
  if (!epoch) return Corrupt(path + ": not a store epoch (a decimal number)");
  return *epoch;
}

Result<uint64_t> NextEpoch(FileSystem* fs, const StoreLayout& layout, uint64_t at_least) {
  ASSIGN_OR_RETURN(
      std::unique_ptr<FileLock> lock,
      FileLock::Acquire(fs, EpochLockPath(layout), LockMode::kExclusive, kEpochLockWait));
  Result<uint64_t> current = ReadStoreEpoch(fs, layout);
  if (!current.ok() && current.status().code() != Code::kCorrupt) return current.status();
  const uint64_t base = std::max(current.ok() ? *current : 0, at_least);
  if (base == UINT64_MAX) return Corrupt(StoreEpochPath(layout) + ": the store epoch is exhausted");
  const uint64_t next = base + 1;
  const std::string text = std::to_string(next) + "\n";
  RETURN_IF_ERROR(WriteFileAtomically(fs, StoreEpochPath(layout), std::as_bytes(std::span(text))));
  return next;
}

Status CheckEpoch(FileSystem* fs, const StoreLayout& layout, const Guid& vm, uint64_t epoch,
                  std::string_view step) {
  Result<VmRecord> record = ReadVmRecordOf(fs, layout, vm);
  if (!record.ok() && record.status().code() == Code::kNotFound) return Status::Ok();
  if (!record.ok()) return record.status();
  if (record->epoch <= epoch) return Status::Ok();
  return Fenced("VM " + vm.ToString() + " was taken over by another holder (epoch " +
                std::to_string(record->epoch) + ", this one holds " + std::to_string(epoch) +
                ") before " + std::string(step) + "; stopped without writing further");
}

}  // namespace hvdisk::ops
