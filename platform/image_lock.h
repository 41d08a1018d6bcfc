// Image locks in qemu's scheme (block/file-posix.c, raw_apply_lock_bytes / raw_check_lock_bytes),
// so that hvdisk and qemu (qemu-img, qemu-io, a running VM) see each other's opens of a disk image.
//
// qemu names four permissions on an image, bit i of its BLK_PERM mask (qemu 7.2): 0 consistent
// read, 1 write, 2 write unchanged, 3 resize. An open holds a shared byte-range lock (File::Lock:
// an OFD lock) on byte 100 + i of the image file for each permission it holds, and on byte
// 200 + i for each permission it does not share with other users. It may open when no other open
// file holds byte 200 + i of a permission it wants, nor byte 100 + i of one it refuses to share.
//
// hvdisk takes what qemu takes for a format image (as qemu-io and qemu-img do, verified on qemu
// 7.2 through /proc/locks):
//   kWrite: holds consistent read, write, resize; shares consistent read, write unchanged
//           (bytes 100, 101, 103, 201, 203): excludes every other writer and every reader
//           that is not force-shared;
//   kRead:  holds consistent read; shares all but write and resize (bytes 100, 201, 203): any
//           number of readers, and no writer while one reads; a chain's parents are these;
//   kRead with force_share (qemu's -U / force-share=on): holds consistent read, shares everything
//           (byte 100): opens beside a writer, and keeps no writer out.
// The locks belong to the open File and go with it (or with UnlockImage).
//
// Thread safety: as the File's Lock calls.
#pragma once

#include <cstdint>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk {

enum class ImageAccess : uint8_t { kRead, kWrite };

// qemu's permission bits (BLK_PERM_*), and its lock byte bases.
inline constexpr uint32_t kPermConsistentRead = 1u << 0;
inline constexpr uint32_t kPermWrite = 1u << 1;
inline constexpr uint32_t kPermWriteUnchanged = 1u << 2;
inline constexpr uint32_t kPermResize = 1u << 3;
inline constexpr uint32_t kPermCount = 4;
inline constexpr uint64_t kPermLockBase = 100;
inline constexpr uint64_t kSharedLockBase = 200;

// Takes the locks of `access` on `file` (opened for the image) and checks that no other open file
// conflicts; on a conflict releases what it took and returns kInUse: "<path> is in use by another
// process (it holds a write lock)", for a read-only open with a pointer to -U/--force-share.
// kInvalidArgument for force_share with kWrite (qemu refuses it too). A file system without
// byte-range locks (kUnsupported) leaves the image unlocked, as qemu's locking=auto does.
Status LockImage(File& file, ImageAccess access, bool force_share = false);
// Drops every image lock `file` holds (errors ignored: unlocking what is not held is no error).
void UnlockImage(File& file);

}  // namespace hvdisk
