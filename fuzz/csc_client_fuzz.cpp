// libFuzzer target: the CSC client on what a signing service answers — the
// bytes that come over the network into the agent. Each input is one HTTP
// status (first byte) and one body (the rest), given to every call of a
// session: info, auth/login (with a fixed good answer when the first byte's
// top bit is clear, so the bearer calls get that far), credentials/list and
// info, authorize and signHash, RSA and ECDSA. Whatever comes back must be an
// error or a value, never a crash, a hang or an exception.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "remote-client/csc_client.h"
#include "remote-client/memory_transport.h"

namespace {
using namespace vtoken;
using namespace vtoken::csc;

constexpr long kStatuses[] = {200, 200, 200, 200, 204, 400, 401, 403, 404, 429, 500, 503, 302, 100, 999, 0};

bool EndsWith(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const long status = kStatuses[data[0] & 0x0f];
  const bool fuzz_login = data[0] & 0x80;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);

  auto transport = std::make_shared<MemoryTransport>();
  transport->SetHandler([&](const HttpRequest& r) -> Result<HttpResponse> {
    HttpResponse response;
    response.content_type = (data[0] & 0x40) ? "text/html" : "application/json";
    if (!fuzz_login && (EndsWith(r.url, "auth/login") || EndsWith(r.url, "oauth2/token"))) {
      response.status = 200;
      response.content_type = "application/json";
      const std::string ok = R"({"access_token":"AT","refresh_token":"RT","expires_in":3600})";
      response.body.assign(ok.begin(), ok.end());
      return response;
    }
    response.status = status;
    if (status >= 300 && status < 400) response.location = "https://127.0.0.1:1/elsewhere";
    response.body.assign(body.begin(), body.end());
    return response;
  });
  ClientOptions options;
  options.base_url = "https://127.0.0.1:1";
  options.max_attempts = 2;
  options.backoff = std::chrono::milliseconds(0);
  Client client(options, transport);

  (void)client.Info();
  (void)client.Login("a@example.org", Secret("password"), Secret("123456"), true);
  (void)client.ListCredentials();
  (void)client.ListCredentialInfos();
  (void)client.GetCredentialInfo("c1");
  const std::vector<Bytes> hashes(2, Bytes(32, 0x5a));
  auto sad = client.Authorize("c1", Secret("123456"), 2, hashes, HashAlgo::Sha256);
  Sad fallback{Secret("sad"), std::chrono::steady_clock::now() + std::chrono::minutes(5), 2};
  const Sad& use = sad ? *sad : fallback;
  (void)client.SignHash("c1", use, hashes, HashAlgo::Sha256, SignAlgo{});
  (void)client.SignHash("c2", use, hashes, HashAlgo::Sha256, SignAlgo{SignAlgo::Kind::Ecdsa, {}});
  (void)client.Refresh();
  (void)client.Revoke();
  return 0;
}
