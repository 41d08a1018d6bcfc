#include "wsman/wsman_server.h"

#include <httplib.h>

namespace hvdisk::wsman {

WsmanServer::WsmanServer(WsmanHandler* handler, BasicAuth auth, ServerOptions options)
    : handler_(handler), auth_(auth), options_(std::move(options)) {}

WsmanServer::~WsmanServer() = default;

// Steps: refuse clear text unless allowed; make the (TLS) server; set the limits and routes;
// bind.
Status WsmanServer::Start() {
  if (options_.tls_cert.empty() != options_.tls_key.empty()) {
    return InvalidArgument("give both --tls-cert and --tls-key, or neither");
  }
  if (!tls() && !options_.allow_unencrypted) {
    return InvalidArgument(
        "Basic authentication over plain HTTP sends the password in the "
        "clear: give --tls-cert and --tls-key, or --allow-unencrypted");
  }
  if (tls()) {
    server_ =
        std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  if (!server_->is_valid()) {
    return InvalidArgument("cannot use the certificate " + options_.tls_cert + " and key " +
                           options_.tls_key + " (PEM files, the key matching the certificate)");
  }
  const size_t threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_read_timeout(options_.timeout);
  server_->set_write_timeout(options_.timeout);
  server_->set_keep_alive_timeout(options_.timeout.count());
  server_->set_payload_max_length(options_.max_request_bytes);
  Routes();
  port_ = options_.port == 0
              ? server_->bind_to_any_port(options_.host)
              : (server_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  if (port_ <= 0) {
    return InUse("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                 " (in use, or not an address of this machine)");
  }
  return Status::Ok();
}

void WsmanServer::Routes() {
  // Authentication comes first, before any body is read.
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (auth_.Check(req.get_header_value("Authorization"))) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.status = 401;
    res.set_header("WWW-Authenticate", "Basic realm=\"WSMAN\"");
    res.set_header("Connection", "close");  // its body was not read: the connection ends here
    return httplib::Server::HandlerResponse::Handled;
  });
  server_->Post("/wsman", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("application/soap+xml", 0) != 0) {
      res.status = 415;
      return;
    }
    HttpReply reply = handler_->Handle(req.body);
    res.status = reply.status;
    res.set_content(std::move(reply.body), "application/soap+xml;charset=UTF-8");
  });
}

void WsmanServer::Run() { server_->listen_after_bind(); }

void WsmanServer::Stop() {
  if (server_ != nullptr) server_->stop();
}

}  // namespace hvdisk::wsman
