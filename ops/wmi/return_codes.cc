#include "ops/wmi/return_codes.h"

namespace hvdisk::ops::wmi {

// The table of docs/design.md ("Errors"), the only place a Code becomes a WMI value.
uint32_t ReturnValueFor(Code code) {
  switch (code) {
    case Code::kOk:
      return kCompleted;
    case Code::kAccessDenied:
      return kAccessDenied;
    case Code::kUnsupported:
      return kNotSupported;
    case Code::kTimeout:
      return kTimeout;
    case Code::kInvalidArgument:
      return kInvalidParameter;
    case Code::kInUse:
      return kSystemInUse;
    case Code::kInvalidState:
    case Code::kCancelled:  // a job ends in 9 Killed; its ErrorCode says why it did not finish
      return kInvalidState;
    case Code::kWrongType:
      return kIncorrectDataType;
    case Code::kUnavailable:
    case Code::kFenced:  // this host lost the store; the host holding it now recovers
      return kSystemNotAvailable;
    case Code::kOutOfMemory:
      return kOutOfMemory;
    case Code::kNotFound:
      return kFileNotFound;
    case Code::kIoError:
    case Code::kCorrupt:
    case Code::kNoSpace:
      return kFailed;
  }
  return kFailed;  // a Code added later: "anything else"
}

std::string_view ReturnValueName(uint32_t value) {
  switch (value) {
    case kCompleted:
      return "Completed with No Error";
    case kJobStarted:
      return "Method Parameters Checked - Job Started";
    case kFailed:
      return "Failed";
    case kAccessDenied:
      return "Access Denied";
    case kNotSupported:
      return "Not Supported";
    case kStatusUnknown:
      return "Status is unknown";
    case kTimeout:
      return "Timeout";
    case kInvalidParameter:
      return "Invalid parameter";
    case kSystemInUse:
      return "System is in use";
    case kInvalidState:
      return "Invalid state for this operation";
    case kIncorrectDataType:
      return "Incorrect data type";
    case kSystemNotAvailable:
      return "System is not available";
    case kOutOfMemory:
      return "Out of memory";
    case kFileNotFound:
      return "File not found";
  }
  return "Unknown";
}

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kNew:
      return "New";
    case JobState::kStarting:
      return "Starting";
    case JobState::kRunning:
      return "Running";
    case JobState::kSuspended:
      return "Suspended";
    case JobState::kShuttingDown:
      return "Shutting Down";
    case JobState::kCompleted:
      return "Completed";
    case JobState::kTerminated:
      return "Terminated";
    case JobState::kKilled:
      return "Killed";
    case JobState::kException:
      return "Exception";
  }
  return "Unknown";
}

bool IsFinished(JobState state) {
  return state == JobState::kCompleted || state == JobState::kTerminated ||
         state == JobState::kKilled || state == JobState::kException;
}

std::string_view JobTypeName(JobType type) {
  switch (type) {
    case JobType::kInitiateFailover:
      return "Initiate Failover";
    case JobType::kRevertFailover:
      return "Revert Failover";
    case JobType::kCommitFailover:
      return "Commit Failover";
    case JobType::kInitiateTestReplica:
      return "Initiate Test Replica";
  }
  return "Unknown";
}

}  // namespace hvdisk::ops::wmi
