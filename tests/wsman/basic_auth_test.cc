// BasicAuth: the one user and password, nothing else.
#include "wsman/basic_auth.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/testutil/testutil.h"

namespace hvdisk::wsman {
namespace {

TEST(BasicAuthTest, OnlyTheExactCredentialsPass) {
  BasicAuth auth("admin", "s3cret");
  EXPECT_TRUE(auth.Check("Basic YWRtaW46czNjcmV0"));       // admin:s3cret
  EXPECT_TRUE(auth.Check("basic YWRtaW46czNjcmV0"));       // the scheme is case-insensitive
  EXPECT_FALSE(auth.Check("Basic YWRtaW46czNjcmV1"));      // admin:s3creu
  EXPECT_FALSE(auth.Check("Basic YWRtaW46czNjcmV0eA=="));  // admin:s3cretx
  EXPECT_FALSE(auth.Check("Basic YWRtaW46"));              // admin:
  EXPECT_FALSE(auth.Check("Bearer YWRtaW46czNjcmV0"));
  EXPECT_FALSE(auth.Check("Basic !!!!"));
  EXPECT_FALSE(auth.Check("Basic " + std::string(100000, 'A')));
  EXPECT_FALSE(auth.Check(""));
}

TEST(BasicAuthTest, ThePasswordFileIsItsFirstLine) {
  hvdisk::testing::TempDir dir;
  std::ofstream(dir.File("pw")) << "hunter2\nignored\n";
  EXPECT_EQ(ReadPasswordFile(dir.File("pw")).value(), "hunter2");
  std::ofstream(dir.File("empty")) << "\n";
  EXPECT_CODE(ReadPasswordFile(dir.File("empty")), Code::kInvalidArgument);
  EXPECT_CODE(ReadPasswordFile(dir.File("missing")), Code::kNotFound);
}

}  // namespace
}  // namespace hvdisk::wsman
