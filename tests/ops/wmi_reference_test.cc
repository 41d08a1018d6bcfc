// The facade's pure parts: strict CIM reference parsing, the Code -> return value table, job
// record codec and CIM datetimes, and NAME=VALUE method parameters.
#include <gtest/gtest.h>

#include "ops/wmi/cim_reference.h"
#include "ops/wmi/job.h"
#include "ops/wmi/method_call.h"
#include "ops/wmi/return_codes.h"
#include "tests/testutil/testutil.h"

namespace hvdisk::ops::wmi {
namespace {

const Guid kVm = *Guid::Parse("8B7CA206-4790-4B9A-B8FE-575F050F886E");
const std::string kVmText = "8b7ca206-4790-4b9a-b8fe-575f050f886e";

TEST(CimReferenceTest, FullComputerSystemPathNamesTheVm) {
  const std::string full =
      "\\\\HV01\\root\\virtualization\\v2:Msvm_ComputerSystem."
      "CreationClassName=\"Msvm_ComputerSystem\",Name=\"" +
      kVmText + "\"";
  ASSERT_OK_AND_ASSIGN(Guid vm, ParseComputerSystemRef(full));
  EXPECT_EQ(vm, kVm);
  ASSERT_OK_AND_ASSIGN(CimPath path, ParseCimPath(full));
  EXPECT_EQ(path.host, "HV01");
}

TEST(CimReferenceTest, ShortFormAndForwardSlashesAndAnyCaseAreAccepted) {
  EXPECT_EQ(ParseComputerSystemRef("Msvm_ComputerSystem.Name=\"" + kVmText + "\"").value(), kVm);
  EXPECT_EQ(ParseComputerSystemRef("msvm_computersystem.NAME=\"{" + kVmText + "}\"").value(), kVm);
  EXPECT_EQ(ParseComputerSystemRef("//h/root/virtualization/v2:Msvm_ComputerSystem.Name=\"" +
                                   kVmText + "\"")
                .value(),
            kVm);
  EXPECT_EQ(ParseComputerSystemRef(ComputerSystemPath(kVm)).value(), kVm);
}

// hvdisk's extension: a VM by its ElementName, beside the documented Name (its GUID). A Name that
// is not a GUID is refused with a message that points at ElementName.
TEST(CimReferenceTest, AVmReferenceByElementNameIsAcceptedBesideName) {
  ASSERT_OK_AND_ASSIGN(ComputerSystemKey key,
                       ParseComputerSystemKey("Msvm_ComputerSystem.ElementName=\"db \\\"01\\\"\""));
  EXPECT_FALSE(key.id);
  EXPECT_EQ(key.element_name, "db \"01\"");
  ASSERT_OK_AND_ASSIGN(key, ParseComputerSystemKey(ComputerSystemPath(kVm)));
  EXPECT_EQ(key.id, kVm);
  Result<ComputerSystemKey> by_name = ParseComputerSystemKey("Msvm_ComputerSystem.Name=\"db01\"");
  ASSERT_EQ(by_name.status().code(), Code::kInvalidArgument);
  EXPECT_NE(by_name.status().message().find("ElementName=\"db01\""), std::string::npos);
  EXPECT_CODE(ParseComputerSystemKey("Msvm_ComputerSystem.ElementName=\"\""),
              Code::kInvalidArgument);
  EXPECT_CODE(
      ParseComputerSystemKey("Msvm_ComputerSystem.ElementName=\"a\",Name=\"" + kVmText + "\""),
      Code::kInvalidArgument);
  // Only a store resolves a name: the GUID-only parser refuses it.
  EXPECT_CODE(ParseComputerSystemRef("Msvm_ComputerSystem.ElementName=\"db01\""),
              Code::kInvalidArgument);
}

TEST(CimReferenceTest, FormattedPathsParseBackToTheSameKeys) {
  CimPath path{
      .host = "", .class_name = "Msvm_ComputerSystem", .keys = {{"ElementName", "a \"b\" \\ c"}}};
  ASSERT_OK_AND_ASSIGN(CimPath back, ParseCimPath(FormatCimPath(path)));
  EXPECT_EQ(back.keys, path.keys);
  ASSERT_OK_AND_ASSIGN(CimPath service, ParseCimPath(ReplicationServicePath()));
  EXPECT_OK(CheckReplicationServicePath(ReplicationServicePath(), service));
}

TEST(CimReferenceTest, ReferenceOfAnotherClassIsIncorrectDataType) {
  EXPECT_CODE(ParseComputerSystemRef(
                  "Msvm_VirtualSystemSettingData.InstanceID=\"Microsoft:" + kVmText + "\""),
              Code::kWrongType);
  EXPECT_CODE(ParseComputerSystemRef("Msvm_ComputerSystem.CreationClassName=\"Msvm_Foo\",Name=\"" +
                                     kVmText + "\""),
              Code::kWrongType);
  EXPECT_CODE(ParseSnapshotRef("Msvm_ComputerSystem.Name=\"" + kVmText + "\""), Code::kWrongType);
  EXPECT_CODE(ParseJobRef("Msvm_StorageJob.InstanceID=\"" + kVmText + "\""), Code::kWrongType);
}

TEST(CimReferenceTest, MalformedReferencesAreInvalidParameters) {
  const std::string v = "\"" + kVmText + "\"";
  for (const std::string& bad : std::vector<std::string>{
           std::string(""),                                   // NULL where a VM is needed
           "Msvm_ComputerSystem",                             // no keys
           "Msvm_ComputerSystem.Name=" + kVmText,             // unquoted
           "Msvm_ComputerSystem.Name=\"" + kVmText,           // unterminated
           "Msvm_ComputerSystem.Name=\"not-a-guid\"",         // not a GUID
           "Msvm_ComputerSystem.Name=" + v + ",Name=" + v,    // repeated key
           "Msvm_ComputerSystem.Name=" + v + ",Owner=\"x\"",  // unknown key
           "Msvm_ComputerSystem.CreationClassName=\"Msvm_ComputerSystem\"",  // no Name
           "Msvm_ComputerSystem.Name=" + v + "x",                            // trailing garbage
           "\\\\h\\root\\cimv2:Msvm_ComputerSystem.Name=" + v,               // wrong namespace
           "\\\\\\root\\virtualization\\v2:Msvm_ComputerSystem.Name=" + v,   // no host
           "Msvm ComputerSystem.Name=" + v,                                  // bad class name
           "Msvm_ComputerSystem.Name=\"a\\q\"",                              // bad escape
       }) {
    EXPECT_CODE(ParseComputerSystemRef(bad), Code::kInvalidArgument) << bad;
  }
  EXPECT_CODE(ParseSnapshotRef("Msvm_VirtualSystemSettingData.InstanceID=\"" + kVmText + "\""),
              Code::kInvalidArgument);  // no "Microsoft:" prefix
}

TEST(CimReferenceTest, EmptySnapshotIsNullForTheLatestPoint) {
  ASSERT_OK_AND_ASSIGN(std::optional<Guid> none, ParseSnapshotRef(""));
  EXPECT_FALSE(none.has_value());
  ASSERT_OK_AND_ASSIGN(std::optional<Guid> p, ParseSnapshotRef(SnapshotPath(kVm)));
  EXPECT_EQ(p, kVm);
}

TEST(CimReferenceTest, JobReferenceOrBareGuid) {
  EXPECT_EQ(ParseJobRef(JobPath(kVm)).value(), kVm);
  EXPECT_EQ(ParseJobRef(kVmText).value(), kVm);
  EXPECT_EQ(DisplayReference(JobPath(kVm)),
            "Msvm_ConcreteJob (InstanceID = \"" + kVm.ToString(false) + "\")");
}

TEST(ReturnCodesTest, EveryCodeMapsToItsDocumentedValue) {
  const std::pair<Code, uint32_t> table[] = {
      {Code::kOk, 0},
      {Code::kIoError, 32768},
      {Code::kCorrupt, 32768},
      {Code::kNoSpace, 32768},
      {Code::kAccessDenied, 32769},
      {Code::kUnsupported, 32770},
      {Code::kTimeout, 32772},
      {Code::kInvalidArgument, 32773},
      {Code::kInUse, 32774},
      {Code::kInvalidState, 32775},
      {Code::kWrongType, 32776},
      {Code::kUnavailable, 32777},
      {Code::kOutOfMemory, 32778},
      {Code::kNotFound, 32779},
      {Code::kCancelled, 32775},
      {Code::kFenced, 32777},
  };
  static_assert(std::size(table) == static_cast<size_t>(Code::kFenced) + 1);
  for (const auto& [code, value] : table) {
    EXPECT_EQ(ReturnValueFor(code), value) << CodeName(code);
    EXPECT_NE(ReturnValueName(value), "Unknown");
  }
  EXPECT_EQ(ReturnValueName(kStatusUnknown), "Status is unknown");
  EXPECT_EQ(ReturnValueName(kJobStarted), "Method Parameters Checked - Job Started");
}

TEST(JobRecordTest, RoundTripsAndFormatsCimTimes) {
  Job job{.id = kVm,
          .type = JobType::kCommitFailover,
          .state = JobState::kException,
          .percent = 40,
          .error_code = 32779,
          .error_description = "kNotFound: gone",
          .submitted_ms = 1700000000123,
          .started_ms = 1700000000200,
          .finished_ms = 1700000090200,
          .cancellable = false,
          .vm = kVm,
          .owner_pid = 42};
  ASSERT_OK_AND_ASSIGN(Job back, DecodeJob(EncodeJob(job), "test"));
  EXPECT_EQ(back, job);
  EXPECT_EQ(job.ElapsedMs(0), 90000);
  EXPECT_EQ(CimDateTime(1700000000123), "20231114221320.123000+000");
  EXPECT_EQ(CimInterval(90061001), "00000001010101.001000:000");
  EXPECT_CODE(DecodeJob("{\"instance_id\": 3}", "test"), Code::kCorrupt);
}

TEST(MethodParamsTest, NameValuePairsAreStrict) {
  ASSERT_OK_AND_ASSIGN(MethodParams p, ParseMethodParams({"ComputerSystem=a=b", "X="}));
  EXPECT_EQ(p[0].second, "a=b");
  EXPECT_EQ(p[1].second, "");
  EXPECT_CODE(ParseMethodParams({"novalue"}), Code::kInvalidArgument);
  EXPECT_CODE(ParseMethodParams({"a=1", "A=2"}), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hvdisk::ops::wmi
