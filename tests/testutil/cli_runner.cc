#include "tests/testutil/cli_runner.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "tests/testutil/testutil.h"

namespace hvdisk::testing {

const std::string& HvdiskPath() {
  static const std::string path = HVDISK_BINARY_DIR "/cli/hvdisk";
  return path;
}

std::string Q(const std::string& path) { return "'" + path + "'"; }

int Hvdisk(const std::string& args, std::string* out, bool merge_stderr) {
  std::string ignored;
  return RunCommand(HvdiskPath() + " " + args, out ? out : &ignored, merge_stderr);
}

void WriteBinaryFile(const std::string& path, const std::vector<std::byte>& data) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::vector<std::byte> ReadBinaryFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

std::string AsString(const std::vector<std::byte>& data) {
  return std::string(reinterpret_cast<const char*>(data.data()), data.size());
}

}  // namespace hvdisk::testing
