// `hvdisk serve` and `hvdisk vm serve` before nbdkit starts: where to listen, a socket path that
// is taken, a VM that cannot be served. (Serving itself is proven against real clients in
// tests/interop/nbd_interop_test.cc.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "tests/testutil/cli_runner.h"
#include "tests/testutil/testutil.h"

namespace hvdisk {
namespace {

using ::testing::HasSubstr;
using testing::Hvdisk;
using testing::Q;

class ServeCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(Hvdisk("create --block-size 1M " + Q(disk_) + " 8M"), 0); }
  testing::TempDir dir_;
  std::string disk_ = dir_.File("d.vhdx");
};

TEST_F(ServeCommandTest, ASocketOrAPortIsRequiredAndNotBoth) {
  std::string out;
  EXPECT_EQ(Hvdisk("serve " + Q(disk_), &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("--socket PATH or --port N"));
  EXPECT_EQ(Hvdisk("serve " + Q(disk_) + " --socket s --port 10809", &out), 2) << out;
  EXPECT_EQ(Hvdisk("serve " + Q(disk_) + " --bind 0.0.0.0 --socket s", &out), 2) << out;
  EXPECT_EQ(Hvdisk("serve " + Q(disk_) + " --port 70000", &out), 2) << out;
}

TEST_F(ServeCommandTest, ASocketPathThatIsNotASocketIsRefusedAndKept) {
  const std::string path = dir_.File("file");
  testing::WriteBinaryFile(path, std::vector<std::byte>(3));
  std::string out;
  EXPECT_EQ(Hvdisk("serve " + Q(disk_) + " --socket " + Q(path), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("is not a socket"));
  EXPECT_EQ(testing::ReadBinaryFile(path).size(), 3u);
}

TEST_F(ServeCommandTest, ASocketAnotherServerListensOnIsInUse) {
  const std::string path = dir_.File("live.sock");
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  std::string out;
  EXPECT_EQ(Hvdisk("serve " + Q(disk_) + " --socket " + Q(path), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("in use: "));
  EXPECT_EQ(access(path.c_str(), F_OK), 0) << "a live server's socket is left alone";
  close(fd);
}

TEST_F(ServeCommandTest, AnUnknownVmIsNotFound) {
  const std::string store = dir_.File("store");
  ASSERT_EQ(Hvdisk("store create " + Q(store)), 0);
  std::string out;
  EXPECT_EQ(
      Hvdisk("vm --store " + Q(store) + " serve nosuchvm --socket " + Q(dir_.File("s")), &out), 1)
      << out;
  EXPECT_THAT(out, HasSubstr("not found: "));
}

}  // namespace
}  // namespace hvdisk
