#include "cli/demo_replicate.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli/demo_serve.h"
#include "disk/open.h"
#include "platform/content_digest.h"

namespace hvdisk::cli {
namespace {

std::string Hex(int pattern) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02x", pattern);
  return text;
}

std::string BitmapName(int generation) { return "b" + std::to_string(generation); }

// The bytes of data a replicate report says it applied (its "bytes"), or -1.
int64_t BytesOf(const nlohmann::json& j) {
  return j.contains("bytes") && j["bytes"].is_number_integer() ? j["bytes"].get<int64_t>() : -1;
}

}  // namespace

QemuPrimary::QemuPrimary(std::string dir)
    : dir_(std::move(dir)),
      image_(JoinPath(dir_, "primary.qcow2")),
      socket_(JoinPath(dir_, "primary.sock")),
      log_(JoinPath(dir_, "primary.log")) {}

QemuPrimary::~QemuPrimary() { (void)StopExport(); }

std::string QemuPrimary::MissingTool() {
  for (const char* tool : {"qemu-img", "qemu-io", "qemu-nbd"}) {
    if (!OnPath(tool)) return tool;
  }
  return "";
}

Status QemuPrimary::Run(const std::vector<std::string>& args) {
  const int pid = Spawn(args, -1, log_);
  if (pid < 0) return Unavailable("could not start " + args[0]);
  const int code = Wait(pid);
  if (code != 0) {
    return Unavailable(args[0] + " exited " + std::to_string(code) + ": " + Tail(log_));
  }
  return Status::Ok();
}

Status QemuPrimary::Create(uint64_t size, uint64_t length, int pattern) {
  RETURN_IF_ERROR(Run({"qemu-img", "create", "-q", "-f", "qcow2", image_, std::to_string(size)}));
  RETURN_IF_ERROR(Write(0, length, pattern));
  return Run({"qemu-img", "bitmap", "--add", "--enable", image_, BitmapName(generation_)});
}

Status QemuPrimary::Write(uint64_t offset, uint64_t length, int pattern) {
  const std::string command =
      "write -P " + Hex(pattern) + " " + std::to_string(offset) + " " + std::to_string(length);
  return Run({"qemu-io", "-f", "qcow2", "-c", command, image_});
}

Result<std::string> QemuPrimary::NewGeneration() {
  const std::string old = BitmapName(generation_);
  RETURN_IF_ERROR(
      Run({"qemu-img", "bitmap", "--add", "--enable", image_, BitmapName(generation_ + 1)}));
  RETURN_IF_ERROR(Run({"qemu-img", "bitmap", "--disable", image_, old}));
  ++generation_;
  return old;
}

Status QemuPrimary::RemoveBitmap(const std::string& name) {
  return Run({"qemu-img", "bitmap", "--remove", image_, name});
}

Status QemuPrimary::Export(const std::string& bitmap) {
  RETURN_IF_ERROR(StopExport());
  unlink(socket_.c_str());  // qemu-nbd leaves its socket behind
  std::vector<std::string> args = {"qemu-nbd", "-r", "-t", "-f", "qcow2", "-k", socket_};
  if (!bitmap.empty()) args.insert(args.end(), {"-B", bitmap});
  args.push_back(image_);
  nbd_pid_ = Spawn(args, -1, log_);
  if (nbd_pid_ < 0) return Unavailable("could not start qemu-nbd");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (access(socket_.c_str(), F_OK) != 0) {
    if (kill(nbd_pid_, 0) != 0 || std::chrono::steady_clock::now() > deadline) {
      (void)StopExport();
      return Unavailable("qemu-nbd did not serve " + image_ + ": " + Tail(log_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Status::Ok();
}

Status QemuPrimary::StopExport() {
  if (nbd_pid_ < 0) return Status::Ok();
  kill(nbd_pid_, SIGTERM);
  const int code = Wait(nbd_pid_);
  nbd_pid_ = -1;
  unlink(socket_.c_str());
  if (code != 0 && code != 128 + SIGTERM) {
    return Unavailable("qemu-nbd exited " + std::to_string(code) + ": " + Tail(log_));
  }
  return Status::Ok();
}

Result<CycleReport> QemuPrimary::Replicate(const std::string& store, const std::string& vm,
                                           const std::string& bitmap) {
  const std::string out_path = JoinPath(dir_, "replicate.json");
  const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return IoError("could not create " + out_path);
  std::vector<std::string> args = {"/proc/self/exe", "vm",  "--store", store, "replicate", vm,
                                   "--from",         uri(), "--json"};
  if (!bitmap.empty()) args.insert(args.end(), {"--bitmap", bitmap});
  args.push_back("--checkpoint");
  const int pid = Spawn(args, out, log_);
  close(out);
  if (pid < 0) return Unavailable("could not start `hvdisk vm replicate`");
  const int code = Wait(pid);
  std::ifstream in(out_path);
  CycleReport report{.json = std::string(std::istreambuf_iterator<char>(in), {})};
  unlink(out_path.c_str());
  if (code != 0) {
    return Unavailable("`hvdisk vm replicate` exited " + std::to_string(code) + ": " +
                       (report.json.empty() ? Tail(log_) : report.json));
  }
  const nlohmann::json j = nlohmann::json::parse(report.json, nullptr, false);
  if (j.is_object()) report.bytes = BytesOf(j);
  return report;
}

Result<std::string> QemuPrimary::Digest(FileSystem* fs) {
  const std::string raw = JoinPath(dir_, "primary.raw");
  unlink(raw.c_str());
  RETURN_IF_ERROR(Run({"qemu-img", "convert", "-f", "qcow2", "-O", "raw", image_, raw}));
  ContentDigest stream;
  {
    ASSIGN_OR_RETURN(auto disk, disk::Open(fs, raw, {.format = disk::Format::kRaw}));
    std::vector<std::byte> buf(8 << 20);
    for (uint64_t off = 0; off < disk->size(); off += buf.size()) {
      std::span<std::byte> part(buf.data(), std::min<uint64_t>(buf.size(), disk->size() - off));
      RETURN_IF_ERROR(disk->Read(off, part));
      stream.Update(part);
    }
  }
  unlink(raw.c_str());
  return stream.Finish().ToHex();
}

}  // namespace hvdisk::cli
