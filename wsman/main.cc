// hvdisk-wsman (run as `hvdisk wsman`): serves a replica store's Msvm_ReplicationService over
// WS-Management until SIGINT or SIGTERM.
//
//   hvdisk wsman --store DIR --listen ADDR:PORT [--tls-cert F --tls-key F] --user U
//                --password-file F [--allow-unencrypted] [--timeout S] [--lock-timeout MS]
//
// Logs one line on stderr once it listens ("hvdisk wsman: serving DIR at
// http(s)://ADDR:PORT/wsman"; with port 0, the port chosen), so a supervisor or a test knows where.
// Exit 0 after a signal (the jobs running are waited for), 1 when the store or the address cannot
// be used, 2 for bad arguments.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "ops/wmi/cim_reference.h"
#include "ops/wmi/replication_service.h"
#include "wsman/basic_auth.h"
#include "wsman/wsman_handler.h"
#include "wsman/wsman_server.h"

namespace {

using namespace hvdisk;

struct Args {
  std::string store, listen, tls_cert, tls_key, user, password_file;
  bool allow_unencrypted = false;
  int timeout_s = 30;
  int lock_timeout_ms = 0;
};

int Fail(const std::string& what, int code) {
  std::fprintf(stderr, "hvdisk wsman: %s\n", what.c_str());
  return code;
}

// "ADDR:PORT" ("[v6]:PORT" too) into options; false when malformed.
bool ParseListen(const std::string& text, wsman::ServerOptions* o) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return false;
  std::string host = text.substr(0, colon);
  if (host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    size_t used = 0;
    const int port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1 || port < 0 || port > 65535) return false;
    o->host = host;
    o->port = port;
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// Blocks SIGINT and SIGTERM in every thread; one thread waits for them and stops the server,
// again until Run has returned (a signal may come before Run listens, when Stop does nothing).
std::thread StopOnSignal(wsman::WsmanServer* server, const std::atomic<bool>* done) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return std::thread([set, server, done] {
    int sig = 0;
    sigwait(&set, &sig);
    while (!done->load()) {
      server->Stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
}

int Serve(const Args& a) {
  wsman::ServerOptions options;
  if (!ParseListen(a.listen, &options)) return Fail("--listen takes ADDR:PORT, not " + a.listen, 2);
  options.tls_cert = a.tls_cert;
  options.tls_key = a.tls_key;
  options.allow_unencrypted = a.allow_unencrypted;
  options.timeout = std::chrono::seconds(a.timeout_s);
  Result<std::string> password = wsman::ReadPasswordFile(a.password_file);
  if (!password.ok()) return Fail(password.status().message(), 2);
  ops::wmi::ServiceOptions service_options;
  service_options.store.lock_timeout = std::chrono::milliseconds(a.lock_timeout_ms);
  ops::wmi::ReplicationService service(DefaultFileSystem(), a.store, service_options);
  Result<std::vector<ops::wmi::CimInstance>> probe =
      service.EnumerateInstances(ops::wmi::kReplicationServiceClass);
  if (!probe.ok()) return Fail(probe.status().ToString(), 1);
  wsman::WsmanHandler handler(&service, {.max_request_bytes = options.max_request_bytes,
                                         .product_version = HVDISK_VERSION});
  wsman::WsmanServer server(&handler, wsman::BasicAuth(a.user, *password), options);
  std::atomic<bool> done{false};
  std::thread waiter = StopOnSignal(&server, &done);
  Status started = server.Start();
  if (!started.ok()) {
    done = true;
    kill(getpid(), SIGTERM);  // ends the waiter
    waiter.join();
    return Fail(started.message(), started.code() == Code::kInvalidArgument ? 2 : 1);
  }
  std::fprintf(stderr, "hvdisk wsman: serving %s at %s://%s:%d/wsman\n", a.store.c_str(),
               server.tls() ? "https" : "http", options.host.c_str(), server.port());
  server.Run();
  done = true;
  waiter.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Serve a replica store's Msvm_ReplicationService over WS-Management",
               "hvdisk wsman"};
  app.add_option("--store", a.store, "Replica store directory")->required();
  app.add_option("--listen", a.listen, "ADDR:PORT to listen on (5985 http, 5986 https; 0: any)")
      ->required();
  app.add_option("--tls-cert", a.tls_cert, "PEM certificate (HTTPS)");
  app.add_option("--tls-key", a.tls_key, "PEM private key of the certificate");
  app.add_option("--user", a.user, "The user Basic authentication accepts")->required();
  app.add_option("--password-file", a.password_file, "File whose first line is the password")
      ->required();
  app.add_flag("--allow-unencrypted", a.allow_unencrypted,
               "Serve plain HTTP (the password travels in the clear: loopback tests only)");
  app.add_option("--timeout", a.timeout_s, "Seconds a client may stall a read or write")
      ->check(CLI::Range(1, 3600));
  app.add_option("--lock-timeout", a.lock_timeout_ms,
                 "Milliseconds a method waits for a held VM (default 0: 32774 at once)");
  app.footer(
      "Exit status:\n  0  stopped by SIGTERM or SIGINT (after the running jobs ended)\n"
      "  1  the store or the address cannot be used\n"
      "  2  bad arguments (usage, plain HTTP without --allow-unencrypted, an unusable "
      "certificate or password file)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return Serve(a);
}
