#include "ops/host_id.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace hvdisk::ops {

std::string SanitizeHostId(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::string out(text.substr(0, 255));
  for (char& c : out) {
    if (c <= ' ' || c > '~') c = '_';
  }
  return out;
}

std::string HostId() {
  if (const char* env = std::getenv(kHostIdEnv); env != nullptr && *env != '\0') {
    return SanitizeHostId(env);
  }
  std::ifstream machine("/etc/machine-id");
  std::string id;
  if (machine && std::getline(machine, id) && !SanitizeHostId(id).empty()) {
    return SanitizeHostId(id);
  }
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) == 0 && name[0] != '\0') return SanitizeHostId(name);
  return "localhost";
}

}  // namespace hvdisk::ops
