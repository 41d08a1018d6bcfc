#include "tests/testutil/chain_fixture.h"

#include "tests/testutil/testutil.h"

namespace hvdisk::chain::testing {

Status WriteLayer(vhdx::Image* image, int layer) {
  const uint64_t b = kBlock;
  const uint64_t seed = 100 + static_cast<uint64_t>(layer);
  struct Piece {
    uint64_t offset, length;
  };
  // Each layer shifts its pattern so layers overlap partly.
  const uint64_t shift = static_cast<uint64_t>(layer % 3) * b;
  const Piece pieces[] = {{shift, b}, {shift + 2 * b + 4096, 8192}, {5 * b + layer * 512u, 1024}};
  for (const Piece& p : pieces) {
    RETURN_IF_ERROR(
        image->Write(p.offset, ::hvdisk::testing::PatternBytes(p.length, seed + p.offset)));
  }
  if (layer % 2 == 1) RETURN_IF_ERROR(image->Trim(7 * b, b));  // a zeroed block over the parent
  return image->Flush();
}

Result<std::vector<std::string>> MakeChain(FileSystem* fs, const std::string& dir, int children) {
  RETURN_IF_ERROR(fs->CreateDir(dir));
  std::vector<std::string> paths = {JoinPath(dir, "base.vhdx")};
  RETURN_IF_ERROR(vhdx::Image::Create(fs, paths[0], {.virtual_size = kDisk, .block_size = kBlock}));
  for (int i = 0; i <= children; ++i) {
    if (i > 0) {
      paths.push_back(JoinPath(dir, "d" + std::to_string(i) + ".avhdx"));
      RETURN_IF_ERROR(CreateChild(fs, paths[i - 1], paths[i]));
    }
    ASSIGN_OR_RETURN(auto image, vhdx::Image::Open(fs, paths[i], {.read_only = false}));
    RETURN_IF_ERROR(WriteLayer(image.get(), i));
    RETURN_IF_ERROR(image->Close());
  }
  return paths;
}

Result<std::string> ChainDigest(FileSystem* fs, const std::string& leaf,
                                const ChainOptions& options) {
  ChainOptions ro = options;
  ro.writable_leaf = false;
  ASSIGN_OR_RETURN(auto chain, Chain::Open(fs, leaf, ro));
  std::vector<std::byte> all(chain->virtual_size());
  RETURN_IF_ERROR(chain->Read(0, all));
  return Xxh3_128(all).ToHex();
}

}  // namespace hvdisk::chain::testing
