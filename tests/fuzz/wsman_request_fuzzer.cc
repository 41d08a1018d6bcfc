// libFuzzer target: the WS-Management request parser (wsman/wsman_request.h) over arbitrary
// bytes, and the WQL parser over any filter it reads. Neither may crash, hang or allocate beyond
// the input; scripts/fuzz seeds it with tests/fuzz/wsman-seeds/ (envelopes real clients send).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ops/wmi/wql.h"
#include "wsman/wsman_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  hvdisk::wsman::Fault fault;
  std::string message_id;
  std::optional<hvdisk::wsman::WsmanRequest> r =
      hvdisk::wsman::ParseRequest(body, 512 * 1024, &fault, &message_id);
  if (r && r->has_filter) (void)hvdisk::ops::wmi::ParseWql(r->filter);
  (void)hvdisk::ops::wmi::ParseWql(body.substr(0, 4096));
  return 0;
}
