#pragma once
// An in-process stand-in for vtokend behind the Transport interface: one
// emulated token with an RSA-2048 key (with certificate) and an EC P-256 key
// (without), PIN "1234". Signatures are filler of the right length; the
// requests are recorded so tests can check what the provider sent.
#include <map>
#include <mutex>
#include <string>

#include "cng-provider/src/transport.h"

namespace vtoken::ksp::test {

struct FakeAgentState {
  std::mutex mu;
  std::map<std::string, int> calls;  // op -> count
  wire::Json last_sign;              // the last sign request
  int connections = 0;
  bool logged_in = false;            // on the current connection
  bool can_prompt = false;           // login without a PIN succeeds (a prompt the user answered)
  bool always_authenticate = false;  // the RSA private key needs a context login per signature
  bool context_login = false;
  // Like a cloud token: login needs no PIN and never prompts; each signature
  // needs a code, which only a person can give unless code_without_person
  // (a code command): with no_prompt, kCkrPromptRequired.
  bool cloud = false;
  bool code_without_person = false;
  wire::Json last_login;             // the last login request
  std::string pin = "1234";
  void Reset();
  int Calls(const std::string& op);
};

FakeAgentState& Fake();
// Resets the fake and points the provider's agent connection at it.
void UseFakeAgent();
// Points the provider at an agent that is not running.
void UseNoAgent();

// The fake's token and keys, for assertions.
inline constexpr const char* kFakeSerial = "00fa4e0000000001";
inline constexpr const char* kFakeRsaName = "vtoken:00fa4e0000000001:01";
inline constexpr const char* kFakeEcName = "vtoken:00fa4e0000000001:02";
wire::Bytes FakeRsaModulus();
wire::Bytes FakeCertificate();
wire::Bytes FakeEcX();
wire::Bytes FakeEcY();

}  // namespace vtoken::ksp::test
