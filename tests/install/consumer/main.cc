// The README's embedding example, built against the installed package: create a dynamic image,
// write, read back through a child's chain, and print the digest.
#include <cstdio>
#include <vector>

#include "chain/chain.h"
#include "platform/content_digest.h"
#include "vhdx/image.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using namespace hvdisk;
  FileSystem* fs = DefaultFileSystem();
  const std::string dir = argv[1];
  Status st = vhdx::Image::Create(fs, dir + "/base.vhdx", {.virtual_size = 8 << 20});
  auto base = vhdx::Image::Open(fs, dir + "/base.vhdx", {.read_only = false});
  std::vector<std::byte> data(4096, std::byte{0x5a});
  if (!st.ok() || !base.ok() || !(*base)->Write(1 << 20, data).ok() || !(*base)->Close().ok()) {
    std::fprintf(stderr, "base: %s\n",
                 st.ok() ? base.status().ToString().c_str() : st.ToString().c_str());
    return 1;
  }
  if (Status s = chain::CreateChild(fs, dir + "/base.vhdx", dir + "/child.avhdx"); !s.ok()) {
    std::fprintf(stderr, "child: %s\n", s.ToString().c_str());
    return 1;
  }
  auto disk = chain::Chain::Open(fs, dir + "/child.avhdx", {});
  std::vector<std::byte> all(8 << 20);
  if (!disk.ok() || !(*disk)->Read(0, all).ok() || all[1 << 20] != std::byte{0x5a}) return 1;
  std::printf("%s\n", ContentDigestOf(all).ToHex().c_str());  // as `hvdisk digest`
  return 0;
}
