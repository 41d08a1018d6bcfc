// StoreParts: what the functions over an open store work on (recovery.h, intent_runner.h), so
// that they take the parts they need and never call back into Store (store.h), which owns them
// and calls them one way.
//
// Thread safety: a value of pointers; what they point to is thread-safe and outlives the
// functions given it.
#pragma once

#include "ops/store_layout.h"

namespace hvdisk {
class FileSystem;
}  // namespace hvdisk

namespace hvdisk::ops {

class FencingFileSystem;
class TrashReaper;

struct StoreParts {
  FileSystem* fs = nullptr;
  const StoreLayout* layout = nullptr;
  // Told when files were moved into the trash (TrashReaper::Changed); may be null: nobody is.
  TrashReaper* trash = nullptr;
  // The store's fencing latch (fencing_file_system.h): an epoch check that finds a newer holder
  // latches it, so nothing further is written. May be null: nothing latches.
  FencingFileSystem* fencing = nullptr;
};

}  // namespace hvdisk::ops
