// `hvdisk wsman ...`: runs the WS-Management server, hvdisk-wsman, installed beside hvdisk (as git
// runs git-COMMAND), with the arguments as given. The server is its own program (wsman/), so the
// CLI and the server share no code above ops/wmi.
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli_util.h"
#include "cli/commands.h"

namespace hvdisk::cli {
namespace {

std::string ServerPath() {
  char self[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string dir = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string();
  dir = dir.substr(0, dir.rfind('/') + 1);
  return dir + "hvdisk-wsman";
}

int RunServer(const std::vector<std::string>& args) {
  const std::string path = ServerPath();
  std::vector<char*> argv{const_cast<char*>(path.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  execv(path.c_str(), argv.data());
  return ReportError(NotFound("cannot run " + path +
                              " (the WS-Management server, installed "
                              "beside hvdisk): " +
                              ErrnoStatus(errno, "exec", path).message()));
}

}  // namespace

void RegisterWsmanCommand(CLI::App& app) {
  CLI::App* wsman = app.add_subcommand(
      "wsman", "Serve a replica store over WS-Management (hvdisk wsman --help for its options)");
  wsman->prefix_command();
  wsman->set_help_flag();
  wsman->callback([wsman] { ExitCode() = RunServer(wsman->remaining()); });
}

}  // namespace hvdisk::cli
