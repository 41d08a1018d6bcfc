#include "ops/store_paths.h"

#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "ops/journal.h"
#include "ops/store_layout.h"

namespace hvdisk::ops {
namespace {

// Decodes one UTF-8 sequence at text[*i]; false for an invalid, overlong or surrogate one.
bool NextCodePoint(std::string_view text, size_t* i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(*i);
  size_t len = lead < 0x80           ? 1
               : (lead >> 5) == 0x6  ? 2
               : (lead >> 4) == 0xe  ? 3
               : (lead >> 3) == 0x1e ? 4
                                     : 0;
  if (len == 0 || *i + len > text.size()) return false;
  uint32_t v = len == 1 ? lead : lead & (0x7f >> len);
  for (size_t k = 1; k < len; ++k) {
    if ((byte(*i + k) & 0xc0) != 0x80) return false;
    v = (v << 6) | (byte(*i + k) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return false;
  *i += len;
  *cp = v;
  return true;
}

bool IsLowerGuid(std::string_view text, Guid* out) {
  std::optional<Guid> g = Guid::Parse(text);
  if (!g || LowerGuid(*g) != text) return false;
  *out = *g;
  return true;
}

std::vector<std::string_view> SplitSlash(std::string_view rel) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= rel.size(); ++i) {
    if (i == rel.size() || rel[i] == '/') {
      parts.push_back(rel.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

Status BadPath(std::string_view rel, std::string_view why) {
  return Corrupt("path '" + std::string(rel) + "' " + std::string(why) +
                 "; a store path names a file inside a VM's directory");
}

// The VMs whose directories `intent` may touch: its own, and a test VM it creates or destroys.
std::set<Guid> IntentVms(const Intent& in) {
  std::set<Guid> out{in.vm};
  for (const Guid& g : {in.before.test_vm, in.after.test_vm}) {
    if (!g.IsZero()) out.insert(g);
  }
  return out;
}

// `rel` must be a file (dirs == false) or directory path of one of `vms`; `disks` requires the
// file to sit in the VM's disks/ (merges, renames).
Status CheckIntentPath(std::string_view rel, const std::set<Guid>& vms, bool dirs, bool disks,
                       std::string_view field) {
  Result<VmPath> p = ParseVmPath(rel);
  if (!p.ok()) return p.status().WithContext(field);
  if (vms.count(p->vm) == 0) return BadPath(rel, "belongs to another VM").WithContext(field);
  if (dirs != p->name.empty()) {
    return BadPath(rel, dirs ? "is not a directory path" : "is not a file path").WithContext(field);
  }
  if (disks && !p->in_disks) return BadPath(rel, "is not in disks/").WithContext(field);
  return Status::Ok();
}

Status CheckIntentLists(const Intent& in, const std::set<Guid>& vms) {
  for (const std::string& c : in.creates)
    RETURN_IF_ERROR(CheckIntentPath(c, vms, false, false, "creates"));
  for (const std::string& d : in.deletes)
    RETURN_IF_ERROR(CheckIntentPath(d, vms, false, false, "deletes"));
  for (const std::string& d : in.create_dirs) {
    RETURN_IF_ERROR(CheckIntentPath(d, vms, true, false, "create_dirs"));
  }
  for (const std::string& d : in.delete_dirs) {
    RETURN_IF_ERROR(CheckIntentPath(d, vms, true, false, "delete_dirs"));
  }
  return Status::Ok();
}

}  // namespace

bool IsPlainName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxFileNameBytes && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

Status CheckPlainName(std::string_view name, std::string_view what) {
  if (IsPlainName(name)) return Status::Ok();
  return Corrupt(std::string(what) + ": '" + std::string(name.substr(0, 80)) +
                 "' is not a plain file name (no '/', no '..', not empty, at most " +
                 std::to_string(kMaxFileNameBytes) + " bytes)");
}

Status CheckVmName(std::string_view name) {
  if (name.empty()) return InvalidArgument("a VM needs a name");
  if (name.size() > kMaxVmNameBytes) {
    return InvalidArgument("a VM name is at most " + std::to_string(kMaxVmNameBytes) +
                           " bytes; this one has " + std::to_string(name.size()));
  }
  for (size_t i = 0; i < name.size();) {
    uint32_t cp = 0;
    if (!NextCodePoint(name, &i, &cp)) {
      return InvalidArgument("a VM name must be valid UTF-8 (byte " + std::to_string(i) +
                             " is not); check the terminal's or the script's encoding");
    }
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
      return InvalidArgument("a VM name cannot hold control characters (one at byte " +
                             std::to_string(i - 1) + ")");
    }
  }
  return Status::Ok();
}

Status CheckJsonDepth(std::string_view text, size_t max_depth, std::string_view where) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return Corrupt(std::string(where) + ": nested deeper than " + std::to_string(max_depth) +
                       " levels; not a store record");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::Ok();
}

std::string JsonStringField(std::string_view text, const char* key) {
  if (!CheckJsonDepth(text, kMaxJsonDepth, "").ok()) return "";
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (!j.contains(key) || !j[key].is_string()) return "";
    return j[key].get<std::string>();
  }
  const std::string quoted = "\"" + std::string(key) + "\"";
  const size_t at = text.find(quoted);
  if (at == std::string_view::npos) return "";
  const size_t colon = text.find(':', at + quoted.size());
  const size_t open = colon == std::string_view::npos ? colon : text.find('"', colon);
  const size_t close = open == std::string_view::npos ? open : text.find('"', open + 1);
  if (close == std::string_view::npos) return "";
  return std::string(text.substr(open + 1, close - open - 1));
}

Guid JsonGuidField(std::string_view text, const char* key) {
  return Guid::Parse(JsonStringField(text, key)).value_or(Guid());
}

Result<VmPath> ParseVmPath(std::string_view rel) {
  std::vector<std::string_view> parts = SplitSlash(rel);
  for (std::string_view part : parts) {
    if (part.empty() || part == "." || part == "..") {
      return BadPath(rel, "holds an empty, '.' or '..' component");
    }
  }
  VmPath p;
  if (parts.size() < 2 || parts.size() > 4 || parts[0] != "vms" || !IsLowerGuid(parts[1], &p.vm)) {
    return BadPath(rel, "is not under vms/<vm-guid>/");
  }
  p.in_disks = parts.size() >= 3 && parts[2] == "disks";
  if (parts.size() == 4 && !p.in_disks) return BadPath(rel, "is too deep");
  const size_t name_at = p.in_disks ? 3 : 2;
  if (parts.size() > name_at) {
    if (!IsPlainName(parts[name_at])) return BadPath(rel, "does not end in a plain file name");
    p.name = std::string(parts[name_at]);
  }
  return p;
}

Status CheckRecordNames(const VmRecord& r) {
  std::set<std::string> seen;
  auto name = [&](const std::string& n, std::string_view field, bool required) -> Status {
    if (n.empty() && !required) return Status::Ok();
    RETURN_IF_ERROR(CheckPlainName(n, field));
    if (!seen.insert(n).second) {
      return Corrupt(std::string(field) + ": '" + n + "' is named twice in the record");
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(name(r.base, "base", false));
  for (const RecoveryPoint& p : r.points) RETURN_IF_ERROR(name(p.file, "points[].file", true));
  RETURN_IF_ERROR(name(r.head, "head", false));
  RETURN_IF_ERROR(name(r.failover_disk, "failover_disk", false));
  RETURN_IF_ERROR(name(r.test_disk, "test_disk", false));
  if (r.attached.empty()) return Status::Ok();
  Result<VmPath> at = ParseVmPath(r.attached);
  if (!at.ok()) return at.status().WithContext("attached");
  const Guid& owner = r.mode == ReplicationMode::kTestReplica ? r.source_vm : r.id;
  if (at->vm != owner || !at->in_disks || at->name.empty()) {
    return Corrupt("attached: '" + r.attached + "' is not a disk in the VM's own disks/");
  }
  return Status::Ok();
}

bool IsAdoptRename(const Intent& in, std::string_view from, std::string_view to) {
  return in.op == "create" && !in.has_before && !from.empty() && from.front() == '/' &&
         from.find('\0') == std::string_view::npos &&
         to == StoreLayout::DiskRel(in.vm, in.after.base);
}

Status CheckIntentPaths(const Intent& in) {
  if ((in.has_before && in.before.id != in.vm) || in.after.id != in.vm) {
    return Corrupt("intent " + in.id.ToString() + " carries the record of another VM");
  }
  const std::set<Guid> vms = IntentVms(in);
  RETURN_IF_ERROR(CheckIntentLists(in, vms));
  const std::set<Guid> own{in.vm};
  for (const RenameStep& r : in.renames) {
    RETURN_IF_ERROR(CheckIntentPath(r.to, own, false, true, "renames[].to"));
    if (IsAdoptRename(in, r.from, r.to)) continue;
    RETURN_IF_ERROR(CheckIntentPath(r.from, own, false, true, "renames[].from"));
  }
  for (const MergeStep& m : in.merges) {
    RETURN_IF_ERROR(CheckIntentPath(m.child, own, false, true, "merges[].child"));
    RETURN_IF_ERROR(CheckIntentPath(m.into, own, false, true, "merges[].into"));
    for (const std::string& d : m.dependents) {
      RETURN_IF_ERROR(CheckIntentPath(d, own, false, true, "merges[].dependents"));
    }
  }
  return Status::Ok();
}

}  // namespace hvdisk::ops
