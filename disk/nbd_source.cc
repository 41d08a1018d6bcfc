#include "disk/nbd_source.h"

#include <cerrno>

#if HVDISK_HAVE_LIBNBD
#include <libnbd.h>

#include <algorithm>
#include <deque>
#include <vector>
#endif

namespace hvdisk::disk {

#if !HVDISK_HAVE_LIBNBD

bool HaveNbdSource() { return false; }

Result<std::unique_ptr<ReplicationSource>> OpenNbdSource(const std::string& uri,
                                                         const std::string&) {
  return Unsupported("cannot read " + uri +
                     ": this hvdisk was built without libnbd (apt-get install libnbd-dev and "
                     "rebuild with HVDISK_USE_LIBNBD=ON)");
}

#else

bool HaveNbdSource() { return true; }

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kMinBlock = 512;  // the smallest extent a window may be split into

// One extent of one meta context, cut to the window.
struct Run {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t flags = 0;
};

// What one block-status reply brought, per context.
struct Collected {
  uint64_t offset = 0;
  uint64_t length = 0;
  std::string dirty_context;  // "" without a bitmap
  std::vector<Run> alloc, dirty;
  bool got_alloc = false, got_dirty = false;
  std::string error;  // the first thing wrong with the reply
};

// Checks and stores one context's extents (libnbd's extent callback).
int OnExtents(void* user, const char* context, uint64_t offset, uint32_t* entries, size_t n, int*) {
  auto* c = static_cast<Collected*>(user);
  const std::string_view name(context);
  std::vector<Run>* out = nullptr;
  bool* got = nullptr;
  if (name == LIBNBD_CONTEXT_BASE_ALLOCATION) {
    out = &c->alloc, got = &c->got_alloc;
  } else if (!c->dirty_context.empty() && name == c->dirty_context) {
    out = &c->dirty, got = &c->got_dirty;
  } else {
    return 0;  // a context not asked for: ignored
  }
  if (!c->error.empty()) return 0;
  if (*got) c->error = "context " + std::string(name) + " answered twice";
  if (offset != c->offset) c->error = "extents of " + std::string(name) + " at another offset";
  if (n % 2 != 0 || n / 2 > c->length / kMinBlock + 1) {
    c->error = std::to_string(n / 2) + " extents of " + std::string(name) + " for the window";
  }
  if (!c->error.empty()) return 0;
  *got = true;
  const uint64_t end = c->offset + c->length;
  uint64_t pos = offset;
  for (size_t i = 0; i + 1 < n && pos < end; i += 2) {
    if (entries[i] == 0) {
      c->error = "an extent of length 0 in " + std::string(name);
      return 0;
    }
    const uint64_t take = std::min<uint64_t>(entries[i], end - pos);
    out->push_back({pos, take, entries[i + 1]});
    pos += take;
  }
  if (out->empty()) c->error = "no extent of " + std::string(name);
  return 0;
}

uint64_t End(const Run& r) { return r.offset + r.length; }
// The end of a context's runs (they are contiguous from the window's offset).
uint64_t RunsEnd(const std::vector<Run>& runs) { return End(runs.back()); }

class NbdSource : public ReplicationSource {
 public:
  NbdSource(std::string uri, nbd_handle* h, uint64_t size, bool have_alloc, std::string dirty)
      : uri_(std::move(uri)),
        h_(h),
        size_(size),
        have_alloc_(have_alloc),
        dirty_context_(std::move(dirty)) {}
  ~NbdSource() override {
    if (!dead_) nbd_shutdown(h_, 0);
    nbd_close(h_);
  }

  uint64_t size() const override { return size_; }
  const std::string& name() const override { return uri_; }
  Result<SourceWindow> Changes(uint64_t offset, uint64_t length) override;
  Status Read(std::span<const SourceRange> ranges, unsigned depth, const Sink& sink) override;

 private:
  Status Failed(const std::string& what);
  Status Wait(int64_t cookie, const std::string& what);
  void Drain(const std::deque<int64_t>& cookies);
  SourceWindow Merge(const Collected& c) const;

  const std::string uri_;
  nbd_handle* const h_;
  const uint64_t size_;
  const bool have_alloc_;
  const std::string dirty_context_;
  bool dead_ = false;  // a command may still be in flight: no further I/O on the handle
};

// The error libnbd reported for `what`, as the situation it is.
Status NbdError(const std::string& uri, const std::string& what) {
  const int err = nbd_get_errno();
  const char* msg = nbd_get_error();
  const std::string text = uri + ": " + what + ": " + (msg ? msg : "NBD error");
  if (err == ENOTCONN || err == ECONNRESET || err == EPIPE || err == ESHUTDOWN ||
      err == ECONNREFUSED || err == ENOENT) {
    return Unavailable(text);
  }
  return IoError(text);
}

Status NbdSource::Failed(const std::string& what) {
  dead_ = true;
  return NbdError(uri_, what);
}

// Polls until `cookie` completes; kTimeout after kNbdStallTimeout without socket activity.
Status NbdSource::Wait(int64_t cookie, const std::string& what) {
  Clock::time_point last = Clock::now();
  for (;;) {
    const int done = nbd_aio_command_completed(h_, cookie);
    if (done == 1) return Status::Ok();
    if (done == -1) return Failed(what);
    const int polled = nbd_poll(h_, 1000);
    if (polled == -1) return Failed(what);
    if (polled == 1) {
      last = Clock::now();
    } else if (Clock::now() - last > kNbdStallTimeout) {
      dead_ = true;
      return Timeout(uri_ + ": " + what + ": no reply for " +
                     std::to_string(kNbdStallTimeout.count()) + " s");
    }
  }
}

// Waits for every command of `cookies` to end (their buffers are about to be freed); a handle
// whose connection is gone ends them all.
void NbdSource::Drain(const std::deque<int64_t>& cookies) {
  for (int64_t cookie : cookies) {
    if (dead_) return;
    Status st = Wait(cookie, "read");
    (void)st;
  }
}

// The changes of one reply: dirty (or every) range, zero where base:allocation says so.
SourceWindow NbdSource::Merge(const Collected& c) const {
  const uint64_t window_end = c.offset + c.length;
  const uint64_t alloc_end = c.alloc.empty() ? window_end : RunsEnd(c.alloc);
  const uint64_t dirty_end = c.dirty.empty() ? window_end : RunsEnd(c.dirty);
  SourceWindow w{.end = std::min(alloc_end, dirty_end)};
  size_t i = 0, j = 0;
  for (uint64_t pos = c.offset; pos < w.end;) {
    uint64_t seg_end = w.end;
    bool zero = false, dirty = true;
    if (!c.alloc.empty()) {
      seg_end = std::min(seg_end, End(c.alloc[i]));
      zero = (c.alloc[i].flags & LIBNBD_STATE_ZERO) != 0;
    }
    if (!c.dirty.empty()) {
      seg_end = std::min(seg_end, End(c.dirty[j]));
      dirty = (c.dirty[j].flags & 1) != 0;
    }
    if (dirty) {
      SourceExtent* last = w.extents.empty() ? nullptr : &w.extents.back();
      if (last && last->zero == zero && last->offset + last->length == pos) {
        last->length += seg_end - pos;
      } else {
        w.extents.push_back({pos, seg_end - pos, zero});
      }
    }
    pos = seg_end;
    if (i < c.alloc.size() && End(c.alloc[i]) == pos) ++i;
    if (j < c.dirty.size() && End(c.dirty[j]) == pos) ++j;
  }
  return w;
}

Result<SourceWindow> NbdSource::Changes(uint64_t offset, uint64_t length) {
  if (dead_) return Unavailable(uri_ + ": the connection failed earlier in this cycle");
  if (offset >= size_ || length == 0 || length > size_ - offset) {
    return InvalidArgument(uri_ + ": changes asked beyond the export's size");
  }
  length = std::min(length, kMaxSourceWindow);
  if (!have_alloc_ && dirty_context_.empty()) {
    return SourceWindow{.extents = {{offset, length, false}}, .end = offset + length};
  }
  Collected c{.offset = offset, .length = length, .dirty_context = dirty_context_};
  nbd_extent_callback cb;
  cb.callback = OnExtents;
  cb.user_data = &c;
  cb.free = nullptr;
  const int64_t cookie = nbd_aio_block_status(h_, length, offset, cb, NBD_NULL_COMPLETION, 0);
  if (cookie == -1) return Failed("block status");
  RETURN_IF_ERROR(Wait(cookie, "block status"));
  if (c.error.empty() && have_alloc_ && !c.got_alloc) c.error = "no base:allocation extents";
  if (c.error.empty() && !dirty_context_.empty() && !c.got_dirty) {
    c.error = "no " + dirty_context_ + " extents";
  }
  if (!c.error.empty()) {
    return Corrupt(uri_ + ": the server's block status for [" + std::to_string(offset) + ", +" +
                   std::to_string(length) + ") has " + c.error);
  }
  SourceWindow w = Merge(c);
  RETURN_IF_ERROR(CheckWindow(w, offset, length, uri_));
  return w;
}

Status NbdSource::Read(std::span<const SourceRange> ranges, unsigned depth, const Sink& sink) {
  if (dead_) return Unavailable(uri_ + ": the connection failed earlier in this cycle");
  for (const SourceRange& r : ranges) {
    if (r.length == 0 || r.length > kMaxSourceRead || r.offset > size_ ||
        r.length > size_ - r.offset) {
      return InvalidArgument(uri_ + ": a read of [" + std::to_string(r.offset) + ", +" +
                             std::to_string(r.length) + ") outside the export");
    }
  }
  const size_t slots = std::min<size_t>(std::clamp(depth, 1u, 1024u), ranges.size());
  std::vector<std::vector<std::byte>> bufs(slots);
  struct InFlight {
    int64_t cookie;
    size_t index, slot;
  };
  std::deque<InFlight> queue;
  std::deque<int64_t> cookies;
  size_t next = 0;
  const auto submit = [&](size_t slot) -> Status {
    const SourceRange& r = ranges[next];
    bufs[slot].resize(r.length);
    const int64_t cookie =
        nbd_aio_pread(h_, bufs[slot].data(), r.length, r.offset, NBD_NULL_COMPLETION, 0);
    if (cookie == -1) return Failed("read");
    queue.push_back({cookie, next++, slot});
    cookies.push_back(cookie);
    return Status::Ok();
  };
  Status st;
  for (size_t s = 0; s < slots && st.ok(); ++s) st = submit(s);
  while (st.ok() && !queue.empty()) {
    const InFlight f = queue.front();
    st = Wait(f.cookie, "read");
    if (!st.ok()) break;
    queue.pop_front();
    cookies.pop_front();
    st = sink(ranges[f.index].offset, bufs[f.slot]);
    if (st.ok() && next < ranges.size()) st = submit(f.slot);
  }
  if (!st.ok()) Drain(cookies);
  return st;
}

}  // namespace

Result<std::unique_ptr<ReplicationSource>> OpenNbdSource(const std::string& uri,
                                                         const std::string& bitmap) {
  nbd_handle* h = nbd_create();
  if (h == nullptr) return NbdError(uri, "cannot create an NBD handle");
  std::unique_ptr<nbd_handle, int (*)(nbd_handle*)> owned(h, [](nbd_handle* p) {
    nbd_close(p);
    return 0;
  });
  const std::string dirty = bitmap.empty() ? "" : "qemu:dirty-bitmap:" + bitmap;
  if (nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1 ||
      (!dirty.empty() && nbd_add_meta_context(h, dirty.c_str()) == -1)) {
    return NbdError(uri, "cannot ask for block status");
  }
  if (nbd_connect_uri(h, uri.c_str()) == -1) return NbdError(uri, "cannot connect");
  const int64_t size = nbd_get_size(h);
  if (size < 0) return NbdError(uri, "cannot read the export's size");
  const bool have_alloc = nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  if (!dirty.empty() && nbd_can_meta_context(h, dirty.c_str()) != 1) {
    nbd_shutdown(h, 0);
    return NotFound(uri + " exports no dirty bitmap " + bitmap + " (qemu-nbd exports one with -B " +
                    bitmap + ")");
  }
  owned.release();
  return std::unique_ptr<ReplicationSource>(
      new NbdSource(uri, h, static_cast<uint64_t>(size), have_alloc, dirty));
}

#endif

}  // namespace hvdisk::disk
