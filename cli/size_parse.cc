#include "cli/size_parse.h"

#include <cctype>
#include <charconv>
#include <cstdio>

namespace hvdisk::cli {
namespace {

// The shift for a suffix ("", "K", "KiB", "kb", ...), or -1.
int SuffixShift(std::string_view suffix) {
  if (suffix.empty() || suffix == "B" || suffix == "b") return 0;
  const char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
  std::string_view rest = suffix.substr(1);
  if (!rest.empty() && rest != "B" && rest != "iB" && rest != "b") return -1;
  switch (unit) {
    case 'K':
      return 10;
    case 'M':
      return 20;
    case 'G':
      return 30;
    case 'T':
      return 40;
    case 'P':
      return 50;
    default:
      return -1;
  }
}

Result<uint64_t> ParseNumber(std::string_view digits, std::string_view whole) {
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
    return InvalidArgument("not a number: '" + std::string(whole) + "'");
  }
  return value;
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty size");
  size_t split = text.size();
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  if (!hex) {
    split = 0;
    while (split < text.size() && std::isdigit(static_cast<unsigned char>(text[split]))) ++split;
  }
  const int shift = SuffixShift(text.substr(split));
  if (shift < 0) return InvalidArgument("bad size suffix in '" + std::string(text) + "'");
  ASSIGN_OR_RETURN(uint64_t value, ParseNumber(text.substr(0, split), text));
  if (shift > 0 && value > (UINT64_MAX >> shift)) {
    return InvalidArgument("size too large: '" + std::string(text) + "'");
  }
  return value << shift;
}

Result<uint8_t> ParseByte(std::string_view text) {
  ASSIGN_OR_RETURN(uint64_t value, ParseNumber(text, text));
  if (value > 255) return InvalidArgument("not a byte value (0..255): '" + std::string(text) + "'");
  return static_cast<uint8_t>(value);
}

std::string FormatSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  char buf[48];
  if (unit == 0 || value == static_cast<double>(static_cast<uint64_t>(value))) {
    std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(value), kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g %s", value, kUnits[unit]);
  }
  return buf;
}

CLI::Validator SizeValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        Result<uint64_t> r = ParseSize(text);
        return r.ok() ? std::string() : r.status().message();
      },
      "SIZE");
}

CLI::Validator ByteValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        Result<uint8_t> r = ParseByte(text);
        return r.ok() ? std::string() : r.status().message();
      },
      "BYTE");
}

uint64_t CheckedSize(const std::string& text) {
  Result<uint64_t> r = ParseSize(text);
  return r.ok() ? *r : 0;
}

}  // namespace hvdisk::cli
