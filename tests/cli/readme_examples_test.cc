// Issue 21, item 5: the README's examples run as written. The test extracts the sh block under
// "### Examples" and runs it, line by line, in an empty directory with the built hvdisk first on
// PATH: every line must succeed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using testing::Q;

// The lines of the first ```sh block after the "### Examples" heading.
std::vector<std::string> ReadmeExamples() {
  std::ifstream in(std::string(HVDISK_SOURCE_DIR) + "/README.md");
  std::vector<std::string> lines;
  std::string line;
  bool heading = false, block = false;
  while (std::getline(in, line)) {
    if (line == "### Examples") heading = true;
    if (heading && !block && line == "```sh") {
      block = true;
    } else if (block && line == "```") {
      break;
    } else if (block && !line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

TEST(ReadmeExamples, EveryExampleRunsAsWritten) {
  const std::vector<std::string> lines = ReadmeExamples();
  ASSERT_GE(lines.size(), 10u) << "README.md has no examples block under '### Examples'";
  testing::TempDir dir;
  const std::string bin = testing::HvdiskPath().substr(0, testing::HvdiskPath().rfind('/'));
  for (const std::string& line : lines) {
    SCOPED_TRACE(line);
    ASSERT_EQ(line.rfind("hvdisk ", 0), 0u) << "an example is an hvdisk command";
    std::string out;
    EXPECT_EQ(
        testing::RunCommand("cd " + Q(dir.path()) + " && PATH=" + Q(bin) + ":$PATH " + line, &out),
        0)
        << out;
  }
}

}  // namespace
}  // namespace hvdisk
