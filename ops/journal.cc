#include "ops/journal.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "ops/store_files.h"
#include "ops/store_paths.h"

namespace hvdisk::ops {
namespace {

using Json = nlohmann::ordered_json;

Json MergeToJson(const MergeStep& m) {
  return Json{{"child", m.child}, {"into", m.into}, {"dependents", m.dependents}};
}

Intent IntentFromJson(const Json& j, std::string_view where) {
  Intent in;
  in.id = Guid::Parse(j.at("id").get<std::string>()).value();
  in.op = j.at("op").get<std::string>();
  in.vm = Guid::Parse(j.at("vm").get<std::string>()).value();
  in.has_before = j.at("has_before").get<bool>();
  auto record = [&](const char* key) {
    Result<VmRecord> r = DecodeVmRecord(j.at(key).dump(), where);
    if (!r.ok()) throw std::invalid_argument(r.status().message());
    return std::move(r).value();
  };
  if (in.has_before) in.before = record("before");
  in.after = record("after");
  in.creates = j.at("creates").get<std::vector<std::string>>();
  in.create_dirs = j.at("create_dirs").get<std::vector<std::string>>();
  for (const Json& r : j.at("renames")) in.renames.push_back({r.at("from"), r.at("to")});
  for (const Json& m : j.at("merges")) {
    in.merges.push_back({m.at("child"), m.at("into"), m.at("dependents")});
  }
  in.deletes = j.at("deletes").get<std::vector<std::string>>();
  in.delete_dirs = j.at("delete_dirs").get<std::vector<std::string>>();
  in.epoch = j.value("epoch", uint64_t{0});
  in.host = j.value("host", std::string());
  if (in.host.size() > 255) throw std::invalid_argument("host longer than 255 bytes");
  return in;
}

}  // namespace

std::string EncodeIntent(const Intent& in) {
  Json renames = Json::array();
  for (const RenameStep& r : in.renames) renames.push_back({{"from", r.from}, {"to", r.to}});
  Json merges = Json::array();
  for (const MergeStep& m : in.merges) merges.push_back(MergeToJson(m));
  Json j{{"id", in.id.ToString(false)},
         {"op", in.op},
         {"vm", in.vm.ToString(false)},
         {"has_before", in.has_before},
         {"before", in.has_before ? Json::parse(EncodeVmRecord(in.before)) : Json()},
         {"after", Json::parse(EncodeVmRecord(in.after))},
         {"creates", in.creates},
         {"create_dirs", in.create_dirs},
         {"renames", renames},
         {"merges", merges},
         {"deletes", in.deletes},
         {"delete_dirs", in.delete_dirs},
         {"epoch", in.epoch},
         {"host", in.host}};
  return j.dump(2) + "\n";
}

Result<Intent> DecodeIntent(std::string_view text, std::string_view where) {
  RETURN_IF_ERROR(CheckJsonDepth(text, kMaxJsonDepth, where));
  Intent intent;
  try {
    intent = IntentFromJson(Json::parse(text), where);
  } catch (const std::exception& e) {
    return Corrupt(std::string(where) + ": malformed intent record: " + e.what());
  }
  Status paths = CheckIntentPaths(intent);
  if (!paths.ok()) return Corrupt(std::string(where) + ": intent refused: " + paths.message());
  return intent;
}

Guid IntentVmOf(std::string_view text) { return JsonGuidField(text, "vm"); }

std::string Journal::PathOf(const Guid& id) const {
  return JoinPath(layout_->JournalDir(), id.ToString(false) + ".json");
}

Status Journal::Write(const Intent& intent) {
  std::string text = EncodeIntent(intent);
  return WriteAtomicallyOrClean(fs_, PathOf(intent.id), std::as_bytes(std::span(text)));
}

Status Journal::Remove(const Guid& id) {
  Status st = fs_->Unlink(PathOf(id));
  if (!st.ok() && st.code() != Code::kNotFound) return st;
  return fs_->SyncDir(layout_->JournalDir());
}

Result<std::vector<Intent>> Journal::List() {
  ASSIGN_OR_RETURN(JournalScan scan, Scan());
  if (!scan.bad.empty()) return Corrupt(scan.bad.front().problem);
  return std::move(scan.intents);
}

Result<JournalScan> Journal::Scan(const JournalScan* earlier) {
  RETURN_IF_ERROR(CheckRealDir(fs_, layout_->JournalDir(), "journal/"));
  ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->List(layout_->JournalDir()));
  std::map<std::string_view, const Intent*> read;  // by file name
  const size_t known =
      earlier == nullptr ? 0 : std::min(earlier->intents.size(), earlier->files.size());
  for (size_t i = 0; i < known; ++i) {
    read.emplace(earlier->files[i], &earlier->intents[i]);
  }
  JournalScan out;
  for (const std::string& name : names) {
    if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    if (auto it = read.find(name); it != read.end()) {
      out.intents.push_back(*it->second);
      out.files.push_back(name);
      continue;
    }
    const std::string path = JoinPath(layout_->JournalDir(), name);
    Result<std::string> text = ReadStoreFile(fs_, path, kMaxIntentBytes);
    // An operation on another VM may finish, removing its intent, between List and the read.
    if (!text.ok() && text.status().code() == Code::kNotFound) continue;
    Result<Intent> intent = text.ok() ? DecodeIntent(*text, path) : Result<Intent>(text.status());
    if (intent.ok()) {
      out.intents.push_back(std::move(intent).value());
      out.files.push_back(name);
    } else {
      const Guid vm = text.ok() ? IntentVmOf(*text) : Guid();
      out.bad.push_back({"journal/" + name, vm, intent.status().ToString()});
    }
  }
  return out;
}

}  // namespace hvdisk::ops
