#include "platform/status.h"

#include <cerrno>
#include <cstring>

namespace hvdisk {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "kOk";
    case Code::kInvalidArgument:
      return "kInvalidArgument";
    case Code::kNotFound:
      return "kNotFound";
    case Code::kCorrupt:
      return "kCorrupt";
    case Code::kUnsupported:
      return "kUnsupported";
    case Code::kIoError:
      return "kIoError";
    case Code::kNoSpace:
      return "kNoSpace";
    case Code::kAccessDenied:
      return "kAccessDenied";
    case Code::kInUse:
      return "kInUse";
    case Code::kTimeout:
      return "kTimeout";
    case Code::kInvalidState:
      return "kInvalidState";
    case Code::kOutOfMemory:
      return "kOutOfMemory";
    case Code::kUnavailable:
      return "kUnavailable";
    case Code::kWrongType:
      return "kWrongType";
    case Code::kCancelled:
      return "kCancelled";
    case Code::kFenced:
      return "kFenced";
  }
  return "kUnknown";
}

std::string_view CodeWords(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kNotFound:
      return "not found";
    case Code::kCorrupt:
      return "corrupt";
    case Code::kUnsupported:
      return "unsupported";
    case Code::kIoError:
      return "I/O error";
    case Code::kNoSpace:
      return "no space";
    case Code::kAccessDenied:
      return "access denied";
    case Code::kInUse:
      return "in use";
    case Code::kTimeout:
      return "timed out";
    case Code::kInvalidState:
      return "invalid state";
    case Code::kOutOfMemory:
      return "out of memory";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kWrongType:
      return "wrong type";
    case Code::kCancelled:
      return "cancelled";
    case Code::kFenced:
      return "fenced";
  }
  return "error";
}

Status::Status(Code code, std::string message) {
  if (code != Code::kOk) state_ = std::make_shared<const State>(State{code, std::move(message)});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeWords(code())) + ": " + message();
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code(), std::string(context) + ": " + message());
}

Code CodeFromErrno(int err) {
  switch (err) {
    case ENOENT:
      return Code::kNotFound;
    case EACCES:
    case EPERM:
    case EROFS:
      return Code::kAccessDenied;
    case ENOSPC:
    case EDQUOT:
      return Code::kNoSpace;
    case EBUSY:
    case EWOULDBLOCK:
      return Code::kInUse;
    case ENOMEM:
      return Code::kOutOfMemory;
    case ETIMEDOUT:
      return Code::kTimeout;
    default:
      return Code::kIoError;
  }
}

Status ErrnoStatus(int err, std::string_view op, std::string_view path) {
  std::string msg(op);
  msg += ' ';
  msg += path;
  msg += ": ";
  msg += std::strerror(err);
  msg += " (errno " + std::to_string(err) + ")";
  return Status(CodeFromErrno(err), std::move(msg));
}

}  // namespace hvdisk
