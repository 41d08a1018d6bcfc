// The WQL subset (ops/wmi/wql.h): what it accepts, and hostile or unsupported queries refused as
// invalid parameters, never crashing or matching by accident.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/wmi/wql.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::ops::wmi {
namespace {

TEST(WqlTest, SelectStarWithEqualsAndAndIsParsedCaseInsensitively) {
  ASSERT_OK_AND_ASSIGN(WqlQuery q, ParseWql("  select *  from Msvm_ComputerSystem where "
                                            "ElementName='db01' And ReplicationState = 3 "));
  EXPECT_EQ(q.class_name, "Msvm_ComputerSystem");
  ASSERT_EQ(q.where.size(), 2u);
  EXPECT_EQ(q.where[0].property, "ElementName");
  EXPECT_EQ(q.where[0].value, "db01");
  EXPECT_TRUE(q.where[0].quoted);
  EXPECT_EQ(q.where[1].value, "3");
  EXPECT_FALSE(q.where[1].quoted);
  ASSERT_OK_AND_ASSIGN(WqlQuery bare, ParseWql("SELECT * FROM Msvm_ConcreteJob"));
  EXPECT_TRUE(bare.where.empty());
}

TEST(WqlTest, StringsTakeEitherQuoteAndBackslashEscapes) {
  ASSERT_OK_AND_ASSIGN(WqlQuery q, ParseWql(R"(SELECT * FROM C WHERE A="it's" AND B='a\'b\\c')"));
  EXPECT_EQ(q.where[0].value, "it's");
  EXPECT_EQ(q.where[1].value, "a'b\\c");
}

TEST(WqlTest, QueriesOutsideTheSubsetAreInvalidParameters) {
  for (const std::string& bad : std::vector<std::string>{
           "", "SELECT", "SELECT Name FROM Msvm_ComputerSystem", "SELECT * Msvm_ComputerSystem",
           "SELECT * FROM", "SELECT * FROM Msvm_ComputerSystem;",
           "SELECT * FROM Msvm_ComputerSystem WHERE", "SELECT * FROM C WHERE A = 'x' OR B = 'y'",
           "SELECT * FROM C WHERE A <> 'x'", "SELECT * FROM C WHERE A LIKE 'x%'",
           "SELECT * FROM C WHERE A = 'unterminated", "SELECT * FROM C WHERE A = bareword",
           "SELECT * FROM C WHERE A = 'x' AND", "SELECT * FROM C WHERE A = 'bad\\q'",
           "SELECT * FROM C WHERE A IS NULL", "ASSOCIATORS OF {Msvm_ComputerSystem.Name='x'}",
           "SELECT * FROM C WHERE A = 'x' AND B = 'y' trailing",
           std::string("SELECT * FROM C WHERE A = '\x01'"),
           std::string("SELECT * FROM C\0 WHERE A = 'x'", 30)}) {
    EXPECT_CODE(ParseWql(bad), Code::kInvalidArgument) << bad;
  }
}

TEST(WqlTest, OversizedQueriesAndTooManyConditionsAreRefusedBeforeMatching) {
  std::string big = "SELECT * FROM C WHERE A = '" + std::string(kMaxWqlBytes, 'x') + "'";
  EXPECT_CODE(ParseWql(big), Code::kInvalidArgument);
  std::string many = "SELECT * FROM C WHERE A = 1";
  for (size_t i = 0; i < kMaxWqlConditions; ++i) many += " AND A = 1";
  EXPECT_CODE(ParseWql(many), Code::kInvalidArgument);
}

TEST(WqlTest, MatchingComparesStringsWithoutCaseAndNumbersAsNumbers) {
  VmRecord vm;
  vm.name = "DB01";
  vm.state = ReplicationState::kSuspended;
  const CimInstance i = ComputerSystemInstance(vm);
  auto matches = [&](const std::string& wql) {
    Result<WqlQuery> q = ParseWql(wql);
    return q.ok() && WqlMatches(*q, i);
  };
  EXPECT_TRUE(matches("SELECT * FROM Msvm_ComputerSystem WHERE elementname = 'db01'"));
  EXPECT_TRUE(matches("SELECT * FROM Msvm_ComputerSystem WHERE ReplicationState = 007"));
  EXPECT_TRUE(matches("SELECT * FROM Msvm_ComputerSystem WHERE ReplicationState = '7'"));
  EXPECT_FALSE(matches("SELECT * FROM Msvm_ComputerSystem WHERE ReplicationState = 3"));
  EXPECT_FALSE(matches("SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'db0'"));
  // LastReplicationTime is NULL for a VM without points: it matches no value.
  EXPECT_FALSE(matches("SELECT * FROM Msvm_ComputerSystem WHERE LastReplicationTime = ''"));
  ASSERT_OK_AND_ASSIGN(WqlQuery q, ParseWql("SELECT * FROM Msvm_ComputerSystem WHERE Owner='x'"));
  EXPECT_CODE(CheckWqlProperties(q, SchemaInstance("Msvm_ComputerSystem")), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hvdisk::ops::wmi
