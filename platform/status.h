// Status and Result<T>: how every fallible call in hvdisk reports its outcome.
//
// Library code never throws across its API. A Status carries a small, stable Code (the only thing
// callers branch on, and what the WMI facade maps to return values) and a message with context:
// the structure, the file offset, the path and the operation.
//
// Thread safety: Status and Result are values; distinct objects may be used from distinct threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace hvdisk {

// The error codes of docs/design.md ("Errors"). Stable: values are persisted in job records.
enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kCorrupt,
  kUnsupported,
  kIoError,
  kNoSpace,
  kAccessDenied,
  kInUse,
  kTimeout,
  kInvalidState,
  kOutOfMemory,
  kUnavailable,
  kWrongType,
  kCancelled,  // stopped on request (a WMI job's Kill, SIGINT/SIGTERM in the CLI) and undone
  // This process lost its hold on a shared store: a store descriptor failed with EIO, EBADFD,
  // ENOTCONN or ESTALE, or a newer store epoch was found (another host took over, ops/epoch.h).
  // The operation stopped without writing further; the host now holding the lock recovers.
  kFenced,
};

// "kCorrupt" etc.: the stable name scripts match (JSON errors, logs meant for tools).
std::string_view CodeName(Code code);
// "corrupt", "in use", "I/O error", ...: the code as a user reads it, in every message meant for
// people (the CLI's errors, WMI ErrorDescription, store reports).
std::string_view CodeWords(Code code);

class [[nodiscard]] Status {
 public:
  // An OK status; allocates nothing.
  Status() = default;
  Status(Code code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::kOk; }
  // Empty for OK.
  const std::string& message() const;
  // "corrupt: header 1 checksum mismatch @0x10000" (the code as words), or "OK".
  std::string ToString() const;

  // Returns a copy whose message is prefixed by "context: ". OK stays OK.
  Status WithContext(std::string_view context) const;

  bool operator==(const Status& other) const {
    return code() == other.code() && message() == other.message();
  }

 private:
  struct State {
    Code code;
    std::string message;
  };
  std::shared_ptr<const State> state_;  // null means OK
};

// Factories, one per Code.
inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status Corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
inline Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
inline Status AccessDenied(std::string m) { return {Code::kAccessDenied, std::move(m)}; }
inline Status InUse(std::string m) { return {Code::kInUse, std::move(m)}; }
inline Status Timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
inline Status InvalidState(std::string m) { return {Code::kInvalidState, std::move(m)}; }
inline Status OutOfMemory(std::string m) { return {Code::kOutOfMemory, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status WrongType(std::string m) { return {Code::kWrongType, std::move(m)}; }
inline Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
inline Status Fenced(std::string m) { return {Code::kFenced, std::move(m)}; }

// The one place errno becomes a Code: ENOENT->kNotFound, EACCES/EPERM/EROFS->kAccessDenied,
// ENOSPC/EDQUOT->kNoSpace, EBUSY/EWOULDBLOCK->kInUse, ENOMEM->kOutOfMemory, ETIMEDOUT->kTimeout,
// anything else->kIoError. The message reads "<op> <path>: <strerror> (errno N)".
Code CodeFromErrno(int err);
Status ErrnoStatus(int err, std::string_view op, std::string_view path);

// Result<T>: a T or a non-OK Status (an expected-like type; clang 14 has no std::expected).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}        // NOLINT: implicit
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT: implicit
    if (std::get<1>(v_).ok()) v_.template emplace<1>(Code::kInvalidState, "OK status as Result");
  }

  bool ok() const { return v_.index() == 0; }
  Status status() const { return ok() ? Status() : std::get<1>(v_); }

  // REQUIRES: ok()
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace hvdisk

#define HVDISK_CONCAT_INNER(a, b) a##b
#define HVDISK_CONCAT(a, b) HVDISK_CONCAT_INNER(a, b)

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define RETURN_IF_ERROR(expr)      \
  do {                             \
    ::hvdisk::Status _st = (expr); \
    if (!_st.ok()) return _st;     \
  } while (0)

// `lhs = value of expr` (a Result<T>), or returns its Status.
#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(HVDISK_CONCAT(_res_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL(res, lhs, expr) \
  auto res = (expr);                          \
  if (!res.ok()) return res.status();         \
  lhs = std::move(res).value()
