#include "raw_tls_client.h"

#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>

namespace vtoken::service::test {

RawTlsClient::RawTlsClient(int port, const std::filesystem::path& ca_file, const std::string& source) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  if (fd_ < 0 || inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
      bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
    throw std::runtime_error("cannot bind a client socket to " + source);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot connect to the service");
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr || SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1)
    throw std::runtime_error("cannot load " + ca_file.string());
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr) throw std::runtime_error("SSL_new failed");
  X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
  SSL_set_fd(ssl_, fd_);
  if (SSL_connect(ssl_) != 1) throw std::runtime_error("TLS handshake with the service failed");
}

RawTlsClient::~RawTlsClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

std::string RawTlsClient::Get(const std::string& target) {
  return Exchange("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

std::string RawTlsClient::Post(const std::string& path, const std::string& body) {
  return Exchange("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                  "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

std::string RawTlsClient::Exchange(const std::string& request) {
  if (SSL_write(ssl_, request.data(), static_cast<int>(request.size())) != static_cast<int>(request.size()))
    throw std::runtime_error("cannot send the request");
  std::string answer;
  std::size_t want = std::string::npos;  // whole answer's size, once the headers are in
  char buf[4096];
  while (want == std::string::npos || answer.size() < want) {
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) throw std::runtime_error("the connection ended before the whole answer");
    answer.append(buf, static_cast<std::size_t>(n));
    const auto end = answer.find("\r\n\r\n");
    const auto length = answer.find("Content-Length: ");
    if (want == std::string::npos && end != std::string::npos && length != std::string::npos && length < end)
      want = end + 4 + std::strtoul(answer.c_str() + length + 16, nullptr, 10);
  }
  return answer;
}

std::uint32_t RawTlsClient::DataSegmentsIn() const {
  tcp_info info{};
  socklen_t size = sizeof info;
  if (getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &info, &size) != 0 ||
      size < offsetof(tcp_info, tcpi_data_segs_in) + sizeof info.tcpi_data_segs_in)
    throw std::runtime_error("no TCP_INFO data segment count from this kernel");
  return info.tcpi_data_segs_in;
}

}  // namespace vtoken::service::test
