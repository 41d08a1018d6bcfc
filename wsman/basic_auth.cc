#include "wsman/basic_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

namespace hvdisk::wsman {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view s) {
  std::array<unsigned char, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

// Base64 (RFC 4648) to bytes; false for anything else (bounded by the input's length).
bool DecodeBase64(std::string_view in, std::string* out) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return false;
  std::vector<unsigned char> buf(in.size() / 4 * 3 + 1);
  const int n = EVP_DecodeBlock(buf.data(), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return false;
  size_t len = static_cast<size_t>(n);
  for (size_t i = in.size(); i > 0 && in[i - 1] == '=' && len > 0; --i) --len;  // padding
  out->assign(reinterpret_cast<const char*>(buf.data()), len);
  return true;
}

}  // namespace

BasicAuth::BasicAuth(std::string_view user, std::string_view password)
    : expected_(Sha256(std::string(user) + ":" + std::string(password))) {}

bool BasicAuth::Check(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Basic ";
  if (authorization.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {  // the scheme is case-insensitive
    if (std::tolower(static_cast<unsigned char>(authorization[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  std::string credentials;
  if (!DecodeBase64(authorization.substr(kScheme.size()), &credentials)) return false;
  const std::array<unsigned char, 32> got = Sha256(credentials);
  return CRYPTO_memcmp(got.data(), expected_.data(), got.size()) == 0;
}

Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read the password file " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) {
    return InvalidArgument("the password file " + path +
                           " is empty; put the password on its "
                           "first line");
  }
  return line;
}

}  // namespace hvdisk::wsman
