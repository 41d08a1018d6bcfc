#include "chain/parent_path.h"

#include <algorithm>

namespace hvdisk::chain {
namespace {

std::vector<std::string> SplitComponents(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path) {
    if (c == '\\' || c == '/') {
      if (!cur.empty() && cur != ".") parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);  // a trailing "." is kept: no usable name
  return parts;
}

std::string Join(const std::string& base, const std::vector<std::string>& parts) {
  std::string out = base;
  for (const std::string& p : parts) out = JoinPath(out, p);
  return out;
}

bool IsDriveLetter(const std::string& s) {
  return s.size() == 2 && s[1] == ':' && std::isalpha(static_cast<unsigned char>(s[0]));
}

}  // namespace

std::vector<std::string> ParentPathCandidates(const std::string& child_dir,
                                              const std::string& locator_path) {
  if (locator_path.find('\0') != std::string::npos) return {};
  std::string p = locator_path;
  bool long_prefix = p.rfind("\\\\?\\", 0) == 0 || p.rfind("//?/", 0) == 0;
  if (long_prefix) p = p.substr(4);
  std::vector<std::string> parts = SplitComponents(p);
  if (parts.empty() || parts.back() == "." || parts.back() == "..") return {};
  const std::string last = parts.back();
  std::vector<std::string> out;
  bool unc = !long_prefix && p.rfind("\\\\", 0) == 0;
  bool volume = parts.front().rfind("Volume{", 0) == 0;
  if (IsDriveLetter(parts.front())) {  // C:\dir\x.vhdx
    out.push_back(Join("/", std::vector<std::string>(parts.begin() + 1, parts.end())));
  } else if (unc || volume || long_prefix) {
    // Only the last component is meaningful here.
  } else if (p.front() == '\\' || p.front() == '/') {  // \dir\x.vhdx
    out.push_back(Join("/", parts));
  } else {  // .\x.vhdx, ..\dir\x.vhdx, x.vhdx
    out.push_back(Join(child_dir, parts));
  }
  std::string beside = JoinPath(child_dir, last);
  if (std::find(out.begin(), out.end(), beside) == out.end()) out.push_back(beside);
  return out;
}

Result<std::string> Confine(FileSystem* fs, const std::string& path,
                            const std::vector<std::string>& roots) {
  ASSIGN_OR_RETURN(std::string real, fs->RealPath(path));
  std::string listed;
  for (const std::string& root : roots) {
    auto real_root = fs->RealPath(root);
    if (!real_root.ok()) continue;
    const std::string& r = *real_root;
    if (real == r || (real.size() > r.size() && real.compare(0, r.size(), r) == 0 &&
                      (r.back() == '/' || real[r.size()] == '/'))) {
      return real;
    }
    listed += (listed.empty() ? "" : ", ") + r;
  }
  return AccessDenied("parent " + path + " resolves to " + real + ", outside the allowed roots (" +
                      listed + ")");
}

std::string WindowsRelativePath(const std::string& child_dir, const std::string& parent) {
  std::vector<std::string> from = SplitComponents(child_dir);
  std::vector<std::string> to = SplitComponents(DirName(parent));
  size_t common = 0;
  while (common < from.size() && common < to.size() && from[common] == to[common]) ++common;
  std::string out = common == from.size() ? "." : "";
  for (size_t i = common; i < from.size(); ++i) out += out.empty() ? ".." : "\\..";
  for (size_t i = common; i < to.size(); ++i) out += "\\" + to[i];
  return out + "\\" + BaseName(parent);
}

std::string WindowsAbsolutePath(const std::string& path) {
  std::string out = "C:";
  for (const std::string& part : SplitComponents(path)) out += "\\" + part;
  return out;
}

}  // namespace hvdisk::chain
