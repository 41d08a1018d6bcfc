// The WMI numbers the facade answers with: method return values (Msvm_ReplicationService and
// friends), job states and job types (Msvm_ConcreteJob), and the one mapping from an engine Code
// to a return value (docs/design.md, "Errors").
//
// Thread safety: constants and pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "platform/status.h"

namespace hvdisk::ops::wmi {

// Method return values ("STD codes" of the Msvm_ReplicationService methods).
inline constexpr uint32_t kCompleted = 0;      // Completed with No Error
inline constexpr uint32_t kJobStarted = 4096;  // Method Parameters Checked - Job Started
inline constexpr uint32_t kFailed = 32768;     // Failed
inline constexpr uint32_t kAccessDenied = 32769;
inline constexpr uint32_t kNotSupported = 32770;
inline constexpr uint32_t kStatusUnknown = 32771;
inline constexpr uint32_t kTimeout = 32772;
inline constexpr uint32_t kInvalidParameter = 32773;
inline constexpr uint32_t kSystemInUse = 32774;
inline constexpr uint32_t kInvalidState = 32775;
inline constexpr uint32_t kIncorrectDataType = 32776;
inline constexpr uint32_t kSystemNotAvailable = 32777;
inline constexpr uint32_t kOutOfMemory = 32778;
inline constexpr uint32_t kFileNotFound = 32779;

// The return value for an engine outcome. kOk -> 0; every other Code -> 327xx per docs/design.md.
// kNotFound means "a disk or file the operation needs is missing" (32779): the facade resolves
// references (unknown VM, foreign point) itself before calling the engine, so an engine kNotFound
// that reaches this mapping is a missing file.
uint32_t ReturnValueFor(Code code);

// "Completed with No Error", "Invalid parameter", ...; "Unknown" for other values.
std::string_view ReturnValueName(uint32_t value);

// Msvm_ConcreteJob.JobState.
enum class JobState : uint16_t {
  kNew = 2,
  kStarting = 3,
  kRunning = 4,
  kSuspended = 5,
  kShuttingDown = 6,
  kCompleted = 7,
  kTerminated = 8,
  kKilled = 9,
  kException = 10,
};
std::string_view JobStateName(JobState state);
// 7, 8, 9 and 10: the states after which a job never changes.
bool IsFinished(JobState state);

// Msvm_ConcreteJob.JobType (the values this facade starts).
enum class JobType : uint16_t {
  kInitiateFailover = 97,
  kRevertFailover = 98,
  kCommitFailover = 99,
  kInitiateTestReplica = 102,
};
std::string_view JobTypeName(JobType type);

// Msvm_ConcreteJob.RequestStateChange return values.
inline constexpr uint32_t kJobRequestCompleted = 0;
inline constexpr uint32_t kJobRequestNotSupported = 1;
inline constexpr uint32_t kJobRequestInvalidParameter = 5;
inline constexpr uint32_t kJobRequestTransitionStarted = 4096;
inline constexpr uint32_t kJobRequestInvalidTransition = 4097;
// RequestStateChange's RequestedState 5: Kill.
inline constexpr uint16_t kRequestKill = 5;

}  // namespace hvdisk::ops::wmi
