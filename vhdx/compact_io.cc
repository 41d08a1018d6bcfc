#include "vhdx/compact_io.h"

#include <algorithm>
#include <cstring>

namespace hvdisk::vhdx {
namespace {

bool IsZero(std::span<const std::byte> data) {
  static const std::byte kZeros[4096] = {};
  for (size_t i = 0; i < data.size(); i += sizeof(kZeros)) {
    const size_t n = std::min(sizeof(kZeros), data.size() - i);
    if (std::memcmp(data.data() + i, kZeros, n) != 0) return false;
  }
  return true;
}

uint64_t AlignUpTo(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

Result<std::unique_ptr<CompactIo>> CompactIo::Open(FileSystem* fs, const std::string& path,
                                                   File* file) {
  std::unique_ptr<CompactIo> io(new CompactIo());
  io->file_ = file;
  Result<std::unique_ptr<File>> direct = fs->Open(path, {.write = true, .direct = true});
  if (direct.ok()) io->direct_ = std::move(direct).value();
  ASSIGN_OR_RETURN(io->queue_, CreateIoQueue(IoBackend::kAuto, kDepth));
  io->slots_.resize(kDepth);
  return io;
}

Status CompactIo::Submit(Slot* slot, IoKind kind, File* f, uint64_t offset, size_t length) {
  const IoRequest request{.kind = kind,
                          .file = f,
                          .offset = offset,
                          .data = slot->buffer.data(),
                          .length = length,
                          .user_data = static_cast<uint64_t>(slot - slots_.data())};
  return queue_->Submit({&request, 1});
}

bool CompactIo::Cursor::Next(std::span<const FileRange> ranges, const std::vector<bool>* wanted,
                             Slot* slot) {
  while (item < ranges.size() && ((wanted && !(*wanted)[item]) || at >= ranges[item].length)) {
    ++item, at = 0;
  }
  if (item >= ranges.size()) return false;
  slot->item = item, slot->at = at, slot->writing = false;
  slot->length = static_cast<size_t>(std::min<uint64_t>(kPiece, ranges[item].length - at));
  at += slot->length;
  return true;
}

Status CompactIo::ReadAhead(std::span<const FileRange> ranges, const std::vector<bool>* wanted,
                            Cursor* cursor, std::vector<Slot*>* free) {
  while (!free->empty() && cursor->Next(ranges, wanted, free->back())) {
    Slot* s = free->back();
    free->pop_back();
    const uint64_t at = ranges[s->item].offset + s->at;
    RETURN_IF_ERROR(
        Submit(s, IoKind::kRead, ReaderFor(), at, AlignUpTo(s->length, kDirectAlignment)));
  }
  return Status::Ok();
}

Status CompactIo::Drain(Status status) {
  IoCompletion done[kDepth];
  while (queue_->pending() > 0) {
    if (!queue_->Reap(done, 1).ok()) break;
  }
  return status;
}

Result<std::vector<bool>> CompactIo::AllZero(std::span<const FileRange> ranges) {
  std::vector<bool> zero(ranges.size(), true);
  std::vector<Slot*> free;
  for (Slot& s : slots_) free.push_back(&s);
  Cursor cursor;
  IoCompletion done[kDepth];
  for (;;) {
    Status st = ReadAhead(ranges, &zero, &cursor, &free);
    if (!st.ok()) return Drain(st);
    if (queue_->pending() == 0) break;
    Result<size_t> n = queue_->Reap(done, 1);
    if (!n.ok()) return Drain(n.status());
    for (size_t k = 0; k < *n; ++k) {
      Slot* s = &slots_[done[k].user_data];
      free.push_back(s);
      if (!done[k].status.ok()) return Drain(done[k].status);
      const size_t got = std::min(done[k].bytes, s->length);
      if (!IsZero(s->buffer.span().first(got))) zero[s->item] = false;
    }
  }
  return zero;
}

Status CompactIo::Copy(std::span<const FileMove> moves) {
  std::vector<Slot*> free;
  for (Slot& s : slots_) free.push_back(&s);
  std::vector<FileRange> sources;
  for (const FileMove& m : moves) sources.push_back({m.from, m.length});
  Cursor cursor;
  IoCompletion done[kDepth];
  bool direct_written = false;
  for (;;) {
    Status st = ReadAhead(sources, nullptr, &cursor, &free);
    if (!st.ok()) return Drain(st);
    if (queue_->pending() == 0) break;
    Result<size_t> n = queue_->Reap(done, 1);
    if (!n.ok()) return Drain(n.status());
    for (size_t k = 0; k < *n; ++k) {
      Slot* s = &slots_[done[k].user_data];
      if (!done[k].status.ok()) return Drain(done[k].status);
      if (s->writing) {
        free.push_back(s);
        continue;
      }
      if (done[k].bytes < s->length) {
        return Drain(Corrupt(file_->path() + ": the block to move at " +
                             std::to_string(moves[s->item].from) + " ends before its length"));
      }
      s->writing = true;
      File* w = WriterFor(s->length);
      direct_written |= w == direct_.get();
      Status st = Submit(s, IoKind::kWrite, w, moves[s->item].to + s->at, s->length);
      if (!st.ok()) return Drain(st);
    }
  }
  if (direct_written) RETURN_IF_ERROR(direct_->Flush());
  return file_->Flush();
}

}  // namespace hvdisk::vhdx
