#pragma once
// Keys and self-signed certificates made on the fly for unit tests.
#include <string>

#include "common/ossl.h"
#include "remote-client/encoding.h"

namespace vtoken::csc::test {

struct TestCert {
  ossl::PKey key;
  Bytes der;               // DER certificate
  std::string base64;      // of der
};

// "rsa2048", "p256", "p384".
TestCert MakeCert(const std::string& kind);

// One key and certificate of each kind per process (key generation is slow).
const TestCert& Rsa();
const TestCert& P256();
const TestCert& P384();

}  // namespace vtoken::csc::test
