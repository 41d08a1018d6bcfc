// Chain::Open: parent resolution, confinement and linkage checks; the chain as a VirtualDisk.
#include "chain/chain.h"

#include <algorithm>

#include "chain/linkage.h"
#include "chain/parent_path.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::chain {

namespace {

struct Candidate {
  std::string real;
  std::unique_ptr<vhdx::Image> image;
};

// Tries one local candidate path: confined, not yet in the chain, linkage and geometry checked.
Status TryCandidate(FileSystem* fs, const std::string& path, const vhdx::Image& child,
                    const std::vector<std::string>& roots, const std::vector<std::string>& seen,
                    const ChainOptions& options, Candidate* out) {
  ASSIGN_OR_RETURN(bool exists, fs->Exists(path));
  if (!exists) return NotFound(path + ": no such file");
  ASSIGN_OR_RETURN(std::string real, Confine(fs, path, roots));
  if (std::find(seen.begin(), seen.end(), real) != seen.end()) {
    return Corrupt(child.path() + ": parent " + real + " is already in the chain (cycle)");
  }
  ASSIGN_OR_RETURN(auto parent, vhdx::Image::Open(fs, real,
                                                  {.read_only = true,
                                                   .direct = options.direct,
                                                   .force_share = options.force_share}));
  RETURN_IF_ERROR(CheckGeometry(child, *parent));
  if (!options.ignore_linkage) RETURN_IF_ERROR(CheckLinkage(child, *parent));
  out->real = real;
  out->image = std::move(parent);
  return Status::Ok();
}

// Locates and opens the parent of `child`, trying relative_path, volume_path, then
// absolute_win32_path (MS-VHDX 2.6.2.6.3), each through ParentPathCandidates.
Result<Candidate> OpenParent(FileSystem* fs, const vhdx::Image& child,
                             const std::vector<std::string>& roots,
                             const std::vector<std::string>& seen, const ChainOptions& options) {
  vhdx::ParentLocator locator{.entries = child.parent_locator()};
  RETURN_IF_ERROR(locator.ValidateVhdx());
  Status last = NotFound(child.path() + ": the parent locator names no path");
  std::string tried;
  for (std::string_view key :
       {vhdx::kRelativePathKey, vhdx::kVolumePathKey, vhdx::kAbsoluteWin32PathKey}) {
    auto value = locator.Get(key);
    if (!value) continue;
    for (const std::string& path :
         ParentPathCandidates(DirName(child.path()), std::string(*value))) {
      Candidate c;
      Status st = TryCandidate(fs, path, child, roots, seen, options, &c);
      if (st.ok()) return c;
      tried += (tried.empty() ? "" : ", ") + path;
      // A refusal (outside the roots, cycle, wrong linkage) outranks a missing file.
      if (last.code() == Code::kNotFound || st.code() != Code::kNotFound) last = st;
    }
  }
  if (last.code() == Code::kNotFound) {
    return NotFound(child.path() + ": parent not found (tried " + tried + ")");
  }
  return last;
}

}  // namespace

Result<std::unique_ptr<Chain>> Chain::Open(FileSystem* fs, const std::string& leaf_path,
                                           const ChainOptions& options) {
  ASSIGN_OR_RETURN(std::string leaf_real, fs->RealPath(leaf_path));
  std::vector<std::string> roots = options.RootsOr(DirName(leaf_real));
  std::unique_ptr<Chain> chain(new Chain());
  ASSIGN_OR_RETURN(auto leaf, vhdx::Image::Open(fs, leaf_real,
                                                {.read_only = !options.writable_leaf,
                                                 .direct = options.direct,
                                                 .force_share = options.force_share}));
  chain->images_.push_back(std::move(leaf));
  chain->paths_.push_back(leaf_real);
  while (chain->images_.back()->type() == vhdx::DiskType::kDifferencing) {
    if (chain->depth() >= options.max_depth) {
      return Corrupt(leaf_real + ": chain deeper than " + std::to_string(options.max_depth));
    }
    ASSIGN_OR_RETURN(Candidate parent,
                     OpenParent(fs, *chain->images_.back(), roots, chain->paths_, options));
    chain->images_.back()->SetBacking(parent.image.get());
    chain->images_.push_back(std::move(parent.image));
    chain->paths_.push_back(parent.real);
  }
  return chain;
}

Chain::~Chain() = default;

uint64_t Chain::virtual_size() const { return leaf()->virtual_size(); }
uint32_t Chain::logical_sector_size() const { return leaf()->logical_sector_size(); }
Status Chain::Read(uint64_t offset, std::span<std::byte> dst) { return leaf()->Read(offset, dst); }
Status Chain::Write(uint64_t offset, std::span<const std::byte> src) {
  return leaf()->Write(offset, src);
}
Status Chain::Trim(uint64_t offset, uint64_t length, bool make_transparent) {
  return leaf()->Trim(offset, length, make_transparent);
}
Status Chain::Flush() { return leaf()->Flush(); }

Status Chain::Close() {
  Status first = Status::Ok();
  for (auto& image : images_) {
    Status st = image->Close();
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

bool ChainCheckReport::corrupt() const {
  if (!link_errors.empty()) return true;
  return std::any_of(images.begin(), images.end(),
                     [](const vhdx::CheckReport& r) { return !r.corruptions.empty(); });
}

bool ChainCheckReport::leaks() const {
  return std::any_of(images.begin(), images.end(),
                     [](const vhdx::CheckReport& r) { return !r.leaks.empty(); });
}

bool ChainCheckReport::warnings() const {
  return std::any_of(images.begin(), images.end(),
                     [](const vhdx::CheckReport& r) { return !r.warnings.empty(); });
}

Result<ChainCheckReport> CheckChain(FileSystem* fs, const std::string& leaf_path,
                                    const ChainOptions& options,
                                    const vhdx::Image::CheckProgress& progress) {
  ChainCheckReport report;
  ChainOptions ro = options;
  ro.writable_leaf = false;
  auto chain = Chain::Open(fs, leaf_path, ro);
  std::vector<std::string> paths;
  std::string link_error;
  if (chain.ok()) {
    paths = (*chain)->paths();
    chain->reset();
  } else {
    if (chain.status().code() != Code::kCorrupt && chain.status().code() != Code::kNotFound &&
        chain.status().code() != Code::kAccessDenied) {
      return chain.status();
    }
    link_error = chain.status().ToString();
    ASSIGN_OR_RETURN(std::string real, fs->RealPath(leaf_path));
    paths = {real};
  }
  constexpr uint64_t kUnit = 1000;  // per image, so each image weighs the same
  const uint64_t total = paths.size() * kUnit;
  for (size_t i = 0; i < paths.size(); ++i) {
    const std::string& path = paths[i];
    vhdx::Image::CheckProgress each;
    if (progress) {
      each = [&progress, i, total](uint64_t done, uint64_t of) {
        progress(i * kUnit + done * kUnit / std::max<uint64_t>(of, 1), total);
      };
    }
    ASSIGN_OR_RETURN(vhdx::CheckReport r, vhdx::Image::Check(fs, path, each, options.force_share));
    report.paths.push_back(path);
    report.images.push_back(std::move(r));
  }
  // A leaf that cannot open breaks no link: its own findings say why (and say it once).
  if (!link_error.empty() && report.images[0].corruptions.empty()) {
    report.link_errors.push_back(link_error);
  }
  return report;
}

}  // namespace hvdisk::chain
