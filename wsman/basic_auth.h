// BasicAuth: HTTP Basic credentials (RFC 7617) checked against the one user the server accepts.
// The comparison is constant-time and independent of the lengths involved: the SHA-256 of the
// presented "user:password" is compared with CRYPTO_memcmp to that of the expected one.
//
// Thread safety: immutable after construction; Check may be called from any thread.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "platform/status.h"

namespace hvdisk::wsman {

class BasicAuth {
 public:
  BasicAuth(std::string_view user, std::string_view password);
  // Whether an Authorization header value ("Basic <base64>") carries the expected credentials.
  bool Check(std::string_view authorization) const;

 private:
  std::array<unsigned char, 32> expected_{};
};

// The password in `path`: its first line (a trailing newline removed); kInvalidArgument when it is
// empty, kNotFound / kAccessDenied as the file is.
Result<std::string> ReadPasswordFile(const std::string& path);

}  // namespace hvdisk::wsman
