#pragma once
// A kept-alive HTTPS/1.1 connection on plain OpenSSL and a socket of our own,
// for tests that look below HTTP (how many TCP data segments an answer took)
// or come from another client address.
// Its own file because it needs <linux/tcp.h>, which clashes with the
// <netinet/tcp.h> that httplib.h includes.
#include <openssl/ssl.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace vtoken::service::test {

class RawTlsClient {
 public:
  // Connects to 127.0.0.1:port from `source` (any 127.x.y.z address: the
  // service then sees another client address) and verifies the service
  // against ca_file. Throws std::runtime_error when that fails.
  RawTlsClient(int port, const std::filesystem::path& ca_file, const std::string& source = "127.0.0.1");
  ~RawTlsClient();
  RawTlsClient(const RawTlsClient&) = delete;
  RawTlsClient& operator=(const RawTlsClient&) = delete;

  // Send a request and read one whole answer (headers and Content-Length body).
  std::string Get(const std::string& target);
  std::string Post(const std::string& path, const std::string& body);
  // TCP data segments received so far on this connection (TCP_INFO).
  std::uint32_t DataSegmentsIn() const;

 private:
  std::string Exchange(const std::string& request);
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

}  // namespace vtoken::service::test
