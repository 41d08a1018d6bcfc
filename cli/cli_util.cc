#include "cli/cli_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include "cli/hints.h"
#include "cli/progress.h"
#include "cli/size_parse.h"

namespace hvdisk::cli {

namespace {

std::string& MutableCommandName() {
  static std::string name;
  return name;
}

CLI::App*& MutableRunning() {
  static CLI::App* running = nullptr;
  return running;
}

std::string FullName(const CLI::App* sub) {
  std::string name = sub->get_name();
  for (const CLI::App* p = sub->get_parent(); p != nullptr && p->get_parent() != nullptr;
       p = p->get_parent()) {
    name = p->get_name() + " " + name;
  }
  return name;
}

}  // namespace

const std::string& CommandName() { return MutableCommandName(); }

void SetExitStatus(CLI::App* sub, const std::vector<std::string>& codes) {
  std::string text = "Exit status:";
  for (const std::string& c : codes) text += "\n  " + c;
  sub->footer(text);
}

void SetCommand(CLI::App* sub, std::function<int()> body) {
  if (sub->get_footer().empty()) {
    SetExitStatus(sub, {"0  done", "1  the operation failed (the error and its Code on stderr)",
                        "2  bad arguments (usage)"});
  }
  sub->callback([sub, body = std::move(body)] {
    MutableCommandName() = FullName(sub);
    MutableRunning() = sub;
    try {
      ExitCode() = body();
    } catch (const std::bad_alloc&) {
      ExitCode() = ReportError(OutOfMemory("out of memory"));
    } catch (const std::exception& e) {
      ExitCode() = ReportError(IoError(std::string("unexpected failure: ") + e.what()));
    }
  });
}

bool JsonRequested() {
  const CLI::App* sub = MutableRunning();
  if (sub == nullptr) return false;
  const CLI::Option* json = sub->get_option_no_throw("--json");
  const CLI::Option* output = sub->get_option_no_throw("--output");
  return (json != nullptr && json->count() > 0) ||
         (output != nullptr && output->count() > 0 && output->as<std::string>() == "json");
}

int ReportDiskError(const Status& status, const std::string& path, bool read_only) {
  return ReportError(status, hint::OpenDisk(status, path, read_only));
}

int UsageError(const Status& status) {
  ReportError(status, hint::BadArgument(CommandName()));
  return kExitUsage;
}

CLI::Option* AddFormatOption(CLI::App* sub, std::string* format) {
  return sub
      ->add_option("-f,--format", *format,
                   "Format of the file: raw or vhdx (default: detected; a .vhdx/.avhdx file "
                   "without the VHDX signature is refused unless -f raw)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
}

Status ExplainChainError(const Status& status) {
  // Only a parent refused for its place (chain/parent_path.cc), not a file we may not open.
  if (status.code() != Code::kAccessDenied ||
      status.message().find("outside the allowed roots") == std::string::npos) {
    return status;
  }
  return Status(status.code(),
                status.message() + "; pass --allow-root DIR to accept parents under DIR");
}

Result<std::unique_ptr<disk::VirtualDisk>> OpenDisk(const std::string& path,
                                                    const disk::OpenOptions& options) {
  Result<std::unique_ptr<disk::VirtualDisk>> opened =
      disk::Open(DefaultFileSystem(), path, options);
  if (!opened.ok()) return ExplainChainError(opened.status());
  return opened;
}

CLI::Option* AddAllowRootOption(CLI::App* sub, std::vector<std::string>* roots) {
  return sub
      ->add_option("--allow-root", *roots,
                   "Directory tree a parent image may also lie in, besides the child's own "
                   "directory tree (repeatable)")
      ->allow_extra_args(false)
      ->type_name("DIR");
}

CLI::Option* AddForceShareFlag(CLI::App* sub, bool* force_share) {
  return sub->add_flag("-U,--force-share", *force_share,
                       "Open read-only even while another process writes the disk (its image "
                       "locks are shared; what is read may change meanwhile), as qemu-img -U");
}

CLI::Option* AddJsonFlag(CLI::App* sub, bool* json, const std::string& what) {
  sub->add_option_function<std::string>(
         "--output", [json](const std::string& v) { *json = v == "json"; },
         "human (the default) or json (= --json), as qemu-img --output")
      ->check(CLI::IsMember({"human", "json"}));
  return sub->add_flag("--json", *json,
                       "Print JSON on stdout instead of the table: " + what +
                           " (keys in hvdisk-json(7)); no progress line");
}

void AddProgressFlags(CLI::App* sub, bool* quiet) {
  sub->add_flag_callback(
      "-p,--progress", [] { Progress::Force(true); },
      "Show the progress line even when stderr is not a terminal (not with --json)");
  sub->add_flag_callback(
      "-q,--quiet",
      [quiet] {
        Progress::Force(false);
        if (quiet != nullptr) *quiet = true;
      },
      quiet == nullptr ? "No progress line" : "Print nothing but errors (the exit code tells)");
}

CLI::Option* AddSectorOption(CLI::App* sub, const std::string& name, uint32_t* value,
                             const std::string& help) {
  return sub->add_option(name, *value, help)
      ->check(CLI::IsMember({512, 4096}))
      ->transform(
          [](std::string text) {
            Result<uint64_t> n = ParseSize(text);
            return n.ok() ? std::to_string(*n) : text;
          },
          "", "SIZE");
}

// Invalid UTF-8 (a file name or record field of a damaged store, quoted in a problem) is printed
// as U+FFFD rather than failing the command.
void PrintJson(const nlohmann::ordered_json& j) {
  std::printf("%s\n",
              j.dump(4, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

Status WriteStdout(const void* data, size_t size) {
  if (size > 0 && std::fwrite(data, 1, size, stdout) != size) {
    return IoError(std::string("write to stdout: ") + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace hvdisk::cli
