// `hvdisk wmi`: the WMI-style facade of a replica store from the command line.
//
//   hvdisk wmi --store DIR invoke CLASS.METHOD [NAME=VALUE...] [--wait] [--json]
//   hvdisk wmi --store DIR job ID [--json]
//   hvdisk wmi --store DIR query WQL [--json]
//   hvdisk wmi methods [--json]
//
// `invoke` prints the out parameters and ReturnValue as Invoke-CimMethod does; with --wait, a
// 4096 is followed by polling the job every 100 ms (a progress line on a terminal) until it ends.
// `job` shows one Msvm_ConcreteJob of any process on the store; `query` the instances a WQL query
// selects (ops/wmi/wql.h), as Get-CimInstance -Query lists them; `methods` each method and its
// parameters. Exit codes: 0 for ReturnValue 0,
// 4096 (without --wait) or a job that ended 7 Completed; 1 otherwise; 2 for usage errors.
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/hints.h"
#include "cli/progress.h"
#include "ops/vm_record.h"
#include "ops/wmi/cim_instance.h"
#include "ops/wmi/cim_reference.h"
#include "ops/wmi/method_call.h"
#include "ops/wmi/replication_service.h"

namespace hvdisk::cli {
namespace {

using ops::wmi::Job;
using ops::wmi::MethodResult;
using ops::wmi::ReplicationService;
using Json = nlohmann::ordered_json;
using Properties = std::vector<std::pair<std::string, Json>>;

struct WmiArgs {
  std::string store;
  int lock_timeout_ms = 0;
  std::string method;
  std::vector<std::string> params;
  std::string job;
  std::string query;
  bool wait = false;
  bool json = false;
};

// read_only: `wmi job` only reads (shared locks, no recovery: ops/store.h).
std::unique_ptr<ReplicationService> NewService(const WmiArgs& a, bool read_only = false) {
  ops::wmi::ServiceOptions options;
  options.store.lock_timeout = std::chrono::milliseconds(a.lock_timeout_ms);
  options.store.read_only = read_only;
  return std::make_unique<ReplicationService>(DefaultFileSystem(), a.store, options);
}

// A property's value as JSON: numbers and booleans as themselves, NULL as null, the rest (strings,
// CIM datetimes, references) as strings.
Json ValueJson(const ops::wmi::CimProperty& p) {
  if (!p.value) return nullptr;
  switch (p.type) {
    case ops::wmi::CimType::kUint16:
    case ops::wmi::CimType::kUint32:
      return std::stoull(*p.value);
    case ops::wmi::CimType::kBoolean:
      return *p.value == "true";
    default:
      return *p.value;
  }
}

Properties InstanceProperties(const ops::wmi::CimInstance& instance) {
  Properties p;
  for (const auto& prop : instance.properties) p.emplace_back(prop.name, ValueJson(prop));
  return p;
}

Properties JobProperties(const Job& j) {
  return InstanceProperties(ops::wmi::JobInstance(j, ops::NowMs()));
}

// PowerShell's list view: "Name : value", names padded to the longest.
void PrintList(const Properties& props) {
  size_t width = 0;
  for (const auto& [name, value] : props) width = std::max(width, name.size());
  for (const auto& [name, value] : props) {
    std::string text = value.is_string() ? value.get<std::string>()
                       : value.is_null() ? std::string()
                                         : value.dump();
    if (value.is_string() && (name == "Job" || name == "ResultingSystem")) {
      text = ops::wmi::DisplayReference(text);
    }
    std::printf("%-*s : %s\n", static_cast<int>(width), name.c_str(), text.c_str());
  }
}

Json ToJson(const Properties& props) {
  Json j = Json::object();
  for (const auto& [name, value] : props) j[name] = value;
  return j;
}

Properties ResultProperties(const MethodResult& r) {
  Properties p;
  if (!r.job.empty()) p.emplace_back("Job", r.job);
  if (!r.resulting_system.empty()) p.emplace_back("ResultingSystem", r.resulting_system);
  p.emplace_back("ReturnValue", r.return_value);
  return p;
}

// Polls every 100 ms, showing PercentComplete as a progress line, until the job ends.
Result<Job> WaitForJob(ReplicationService& service, const std::string& job, bool json) {
  Progress progress("job", 100, json);
  while (true) {
    ASSIGN_OR_RETURN(Job j, service.GetJob(job));
    progress.Percent(j.percent);
    if (ops::wmi::IsFinished(j.state)) return j;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void ReportFailure(const MethodResult& r) {
  std::fprintf(stderr, "hvdisk: ReturnValue %u %s%s%s\n", r.return_value,
               std::string(ops::wmi::ReturnValueName(r.return_value)).c_str(),
               r.error.empty() ? "" : ": ", r.error.c_str());
}

// A waited-for job that did not complete: its state, ErrorCode and ErrorDescription on stderr
// (stdout carries its properties, which a script may not look at).
void ReportJobFailure(const Job& j) {
  std::fprintf(stderr, "hvdisk: job %s ended %d %s: ErrorCode %u %s%s%s\n",
               j.id.ToString(false).c_str(), static_cast<int>(j.state),
               std::string(ops::wmi::JobStateName(j.state)).c_str(), j.error_code,
               std::string(ops::wmi::ReturnValueName(j.error_code)).c_str(),
               j.error_description.empty() ? "" : ": ", j.error_description.c_str());
}

int RunInvoke(const WmiArgs& a) {
  Result<ops::wmi::MethodParams> params = ops::wmi::ParseMethodParams(a.params);
  if (!params.ok()) return UsageError(params.status());
  auto service = NewService(a);
  Result<MethodResult> r = ops::wmi::InvokeMethod(*service, a.method, *params);
  if (!r.ok()) return UsageError(r.status());
  const bool started = r->return_value == ops::wmi::kJobStarted && !r->job.empty();
  bool ok = r->return_value == ops::wmi::kCompleted || started;
  if (!ok) ReportFailure(*r);
  Properties props = ResultProperties(*r);
  if (a.wait && started) {
    Result<Job> job = WaitForJob(*service, r->job, a.json);
    if (!job.ok()) return ReportError(job.status());
    ok = job->state == ops::wmi::JobState::kCompleted && job->error_code == 0;
    if (!ok) ReportJobFailure(*job);
    Properties jp = JobProperties(*job);
    if (a.json) {
      props.emplace_back("JobResult", ToJson(jp));
    } else {
      props.insert(props.end(), jp.begin(), jp.end());
    }
  }
  if (a.json) {
    PrintJson(ToJson(props));
  } else {
    PrintList(props);
  }
  return ok ? kExitOk : kExitFailure;
}

int RunJob(const WmiArgs& a) {
  auto service = NewService(a, /*read_only=*/true);
  Result<Job> job = service->GetJob(a.job);
  if (!job.ok()) return ReportError(job.status(), hint::OpenStore(job.status(), a.store));
  if (a.json) {
    PrintJson(ToJson(JobProperties(*job)));
  } else {
    PrintList(JobProperties(*job));
  }
  return kExitOk;
}

int RunQuery(const WmiArgs& a) {
  auto service = NewService(a, /*read_only=*/true);
  Result<std::vector<ops::wmi::CimInstance>> found = service->ExecQuery(a.query);
  if (!found.ok()) {
    return found.status().code() == Code::kInvalidArgument ? UsageError(found.status())
                                                           : ReportError(found.status());
  }
  if (a.json) {
    Json list = Json::array();
    for (const auto& i : *found) list.push_back(ToJson(InstanceProperties(i)));
    PrintJson(list);
    return kExitOk;
  }
  for (size_t n = 0; n < found->size(); ++n) {  // Format-List: a blank line between instances
    if (n > 0) std::printf("\n");
    PrintList(InstanceProperties((*found)[n]));
  }
  return kExitOk;
}

int RunMethods(const WmiArgs& a) {
  const std::vector<ops::wmi::MethodInfo> methods = ops::wmi::DescribeMethods();
  if (a.json) {
    Json list = Json::array();
    for (const auto& m : methods) {
      Json params = Json::array();
      for (const auto& p : m.params) {
        params.push_back({{"Name", p.name}, {"Type", p.type}, {"Direction", p.out ? "out" : "in"}});
      }
      list.push_back({{"Method", m.name}, {"ReturnType", "uint32"}, {"Parameters", params}});
    }
    PrintJson(list);
    return kExitOk;
  }
  for (const auto& m : methods) {
    std::printf("uint32 %.*s(\n", static_cast<int>(m.name.size()), m.name.data());
    for (size_t i = 0; i < m.params.size(); ++i) {
      const auto& p = m.params[i];
      std::printf("    [%s] %.*s %.*s%s\n", p.out ? "out" : "in", static_cast<int>(p.type.size()),
                  p.type.data(), static_cast<int>(p.name.size()), p.name.data(),
                  i + 1 < m.params.size() ? "," : "");
    }
    std::printf(")\n");
  }
  return kExitOk;
}

// --store is needed by every subcommand but `methods`.
bool NeedsStore(const WmiArgs& a) {
  if (!a.store.empty()) return true;
  UsageError(InvalidArgument("--store DIR is required: the replica store to look at"));
  return false;
}

}  // namespace

void RegisterWmiCommands(CLI::App& app) {
  auto args = std::make_shared<WmiArgs>();
  CLI::App* wmi = app.add_subcommand("wmi", "Msvm_ReplicationService facade of a replica store");
  wmi->require_subcommand(1);
  wmi->add_option("--store", args->store, "Replica store directory (all but `methods`)");
  wmi->add_option("--lock-timeout", args->lock_timeout_ms,
                  "Milliseconds to wait for a held VM (default 0: 32774 at once)");

  CLI::App* invoke = wmi->add_subcommand("invoke", "Invoke CLASS.METHOD with NAME=VALUE params");
  invoke->add_option("method", args->method, "e.g. Msvm_ReplicationService.InitiateFailover")
      ->required();
  invoke->add_option("params", args->params, "NAME=VALUE (REF values are CIM object paths)");
  invoke->add_flag("--wait", args->wait, "On 4096, poll the job every 100 ms until it ends");
  AddJsonFlag(invoke, &args->json, "ReturnValue, Job, ResultingSystem, JobResult");
  SetExitStatus(invoke, {"0  ReturnValue 0, 4096 without --wait, or a job that ended 7 Completed",
                         "1  any other ReturnValue or job end (printed on stderr)",
                         "2  bad arguments (usage, malformed NAME=VALUE, unknown method)"});
  SetCommand(invoke, [args] { return NeedsStore(*args) ? RunInvoke(*args) : kExitUsage; });

  CLI::App* job = wmi->add_subcommand("job", "Show one Msvm_ConcreteJob");
  job->add_option("id", args->job, "Job InstanceID (GUID) or Msvm_ConcreteJob path")->required();
  AddJsonFlag(job, &args->json, "the Msvm_ConcreteJob properties");
  SetCommand(job, [args] { return NeedsStore(*args) ? RunJob(*args) : kExitUsage; });

  CLI::App* query = wmi->add_subcommand("query", "List the instances a WQL query selects");
  query
      ->add_option("wql", args->query,
                   "SELECT * FROM Class [WHERE Prop = 'value' [AND ...]]; classes "
                   "Msvm_ComputerSystem, Msvm_VirtualSystemSettingData (recovery points), "
                   "Msvm_ReplicationSettingData, Msvm_ConcreteJob, Msvm_ReplicationService")
      ->required();
  AddJsonFlag(query, &args->json, "an array of instances, each an object of its properties");
  SetCommand(query, [args] { return NeedsStore(*args) ? RunQuery(*args) : kExitUsage; });

  CLI::App* methods = wmi->add_subcommand("methods", "List each method and its parameters");
  AddJsonFlag(methods, &args->json, "an array of methods with their parameters");
  SetCommand(methods, [args] { return RunMethods(*args); });
}

}  // namespace hvdisk::cli
