#include "cli/cli_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

namespace hvdisk::cli {

void SetCommand(CLI::App* sub, std::function<int()> body) {
  sub->callback([body = std::move(body)] {
    try {
      ExitCode() = body();
    } catch (const std::bad_alloc&) {
      ExitCode() = ReportError(OutOfMemory("out of memory"));
    } catch (const std::exception& e) {
      ExitCode() = ReportError(IoError(std::string("unexpected failure: ") + e.what()));
    }
  });
}

int UsageError(const Status& status) {
  ReportError(status);
  return kExitUsage;
}

CLI::Option* AddFormatOption(CLI::App* sub, std::string* format) {
  return sub
      ->add_option("-f,--format", *format,
                   "Format of the file: raw or vhdx (default: detected; a .vhdx/.avhdx file "
                   "without the VHDX signature is refused unless -f raw)")
      ->check(CLI::IsMember({"raw", "vhdx"}));
}

CLI::Option* AddAllowRootOption(CLI::App* sub, std::vector<std::string>* roots) {
  return sub
      ->add_option("--allow-root", *roots,
                   "Directory tree a parent image may also lie in, besides the child's own "
                   "directory tree (repeatable)")
      ->allow_extra_args(false)
      ->type_name("DIR");
}

Status WriteStdout(const void* data, size_t size) {
  if (size > 0 && std::fwrite(data, 1, size, stdout) != size) {
    return IoError(std::string("write to stdout: ") + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace hvdisk::cli
