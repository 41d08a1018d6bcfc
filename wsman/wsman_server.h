// WsmanServer: the HTTP(S) endpoint /wsman (cpp-httplib; TLS through OpenSSL) in front of a
// WsmanHandler, as WinRM listens: POST of application/soap+xml, Basic authentication.
//
//   - Without a certificate the server refuses to start unless allow_unencrypted (Basic sends
//     the password in the clear), as WinRM's AllowUnencrypted does.
//   - Every request is authenticated before its body is read (401 with WWW-Authenticate: Basic
//     otherwise); bodies are capped at max_request_bytes before they are read (413); a client
//     that stalls is dropped after `timeout` per read or write; connections are served by a pool
//     of `threads` threads.
//   - Only POST /wsman is served (404 otherwise; 415 for another content type).
//
// Thread safety: Start, then Run on one thread; Stop from any thread (or a signal-handling one).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "platform/status.h"
#include "wsman/basic_auth.h"
#include "wsman/wsman_handler.h"

namespace httplib {
class Server;
}

namespace hvdisk::wsman {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 5985;                // 0: any free port (port() says which)
  std::string tls_cert, tls_key;  // PEM files; both or neither
  bool allow_unencrypted = false;
  std::chrono::seconds timeout{30};
  size_t threads = 8;
  size_t max_request_bytes = 512 * 1024;
};

class WsmanServer {
 public:
  WsmanServer(WsmanHandler* handler, BasicAuth auth, ServerOptions options);
  ~WsmanServer();

  // Binds the address; kInvalidArgument for plain HTTP without allow_unencrypted or a broken
  // certificate, kInUse when the address is taken.
  Status Start();
  int port() const { return port_; }
  bool tls() const { return !options_.tls_cert.empty(); }
  // Serves until Stop. REQUIRES: Start succeeded.
  void Run();
  void Stop();

 private:
  void Routes();

  WsmanHandler* handler_;
  BasicAuth auth_;
  ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
};

}  // namespace hvdisk::wsman
