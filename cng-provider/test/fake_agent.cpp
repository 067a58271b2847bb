#include "cng-provider/test/fake_agent.h"

#include <p11-kit/pkcs11.h>

#include <deque>

#include "cng-provider/src/agent_connection.h"
#include "common/ckr_names.h"

namespace vtoken::ksp::test {
namespace {

using wire::Bytes;
using wire::Json;

Bytes Ulong(unsigned long long v) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}
Bytes Text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Json Object(std::uint64_t oid, const wire::Attributes& attrs) {
  return Json{{"oid", oid}, {"attrs", wire::EncodeAttributes(attrs)}, {"sensitive", Json::array()}};
}

const Bytes kEcParams{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

Bytes EcPointDer() {
  Bytes point{0x04, 0x41, 0x04};
  auto x = FakeEcX(), y = FakeEcY();
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  return point;
}

Json Objects(const FakeAgentState& s) {
  Json list = Json::array();
  list.push_back(Object(1, {{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, Ulong(CKK_RSA)}, {CKA_ID, {0x01}},
                            {CKA_LABEL, Text("rsa")}, {CKA_MODULUS, FakeRsaModulus()}, {CKA_PUBLIC_EXPONENT, {0x01, 0x00, 0x01}}}));
  list.push_back(Object(2, {{CKA_CLASS, Ulong(CKO_CERTIFICATE)}, {CKA_CERTIFICATE_TYPE, Ulong(CKC_X_509)}, {CKA_ID, {0x01}},
                            {CKA_VALUE, FakeCertificate()}}));
  list.push_back(Object(3, {{CKA_CLASS, Ulong(CKO_PUBLIC_KEY)}, {CKA_KEY_TYPE, Ulong(CKK_EC)}, {CKA_ID, {0x02}},
                            {CKA_LABEL, Text("ec")}, {CKA_EC_PARAMS, kEcParams}, {CKA_EC_POINT, EcPointDer()}}));
  list.push_back(Object(4, {{CKA_CLASS, Ulong(CKO_DATA)}, {CKA_LABEL, Text("not a key")}}));
  if (s.logged_in) {
    list.push_back(Object(11, {{CKA_CLASS, Ulong(CKO_PRIVATE_KEY)}, {CKA_KEY_TYPE, Ulong(CKK_RSA)}, {CKA_ID, {0x01}},
                               {CKA_MODULUS, FakeRsaModulus()}, {CKA_PUBLIC_EXPONENT, {0x01, 0x00, 0x01}},
                               {CKA_ALWAYS_AUTHENTICATE, {static_cast<std::uint8_t>(s.always_authenticate)}}}));
    list.push_back(Object(12, {{CKA_CLASS, Ulong(CKO_PRIVATE_KEY)}, {CKA_KEY_TYPE, Ulong(CKK_EC)}, {CKA_ID, {0x02}},
                               {CKA_EC_PARAMS, kEcParams}}));
  }
  return list;
}

Json Error(const Json& req, unsigned long rv, const std::string& name) {
  return Json{{"id", req.value("id", 0ull)}, {"ok", false}, {"rv", rv}, {"error", name}, {"message", "fake agent: " + name}};
}

Json Handle(FakeAgentState& s, const Json& req) {
  const std::string op = req.value("op", "");
  ++s.calls[op];
  Json ok{{"id", req.value("id", 0ull)}, {"ok", true}};
  if (op == "hello") return ok;
  if (op == "slots") {
    ok["slots"] = Json::array(
        {Json{{"slot_id", 1}, {"kind", "emulated"}, {"name", "fake"}, {"present", true}, {"generation", 1},
              {"token", {{"label", "fake"}, {"serial", kFakeSerial}, {"flags", CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED}}}},
         Json{{"slot_id", 2}, {"kind", "free"}, {"name", ""}, {"present", true}, {"generation", 0},
              {"token", {{"label", ""}, {"serial", "free"}, {"flags", 0}}}}});
    return ok;
  }
  if (op == "objects") {
    if (req.value("slot_id", 0ull) != 1) return Error(req, CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID");
    ok["objects"] = Objects(s);
    return ok;
  }
  if (op == "login") {
    const auto user_type = req.value("user_type", 9ull);
    const Json& pin = req["pin"];
    s.last_login = req;
    const bool no_prompt = req.value("no_prompt", false);
    if (pin.is_null() && !s.cloud && no_prompt) return Error(req, kCkrPromptRequired, "CKR_VTOKEN_PROMPT_REQUIRED");
    if (pin.is_null() && !s.cloud && !s.can_prompt) return Error(req, CKR_ARGUMENTS_BAD, "CKR_ARGUMENTS_BAD");
    if (pin.is_binary() && std::string(pin.get_binary().begin(), pin.get_binary().end()) != s.pin)
      return Error(req, CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT");
    if (user_type == CKU_CONTEXT_SPECIFIC) {
      if (!s.logged_in) return Error(req, CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN");
      s.context_login = true;
      return ok;
    }
    if (s.logged_in) return Error(req, CKR_USER_ALREADY_LOGGED_IN, "CKR_USER_ALREADY_LOGGED_IN");
    s.logged_in = true;
    return ok;
  }
  if (op == "sign") {
    s.last_sign = req;
    if (!s.logged_in) return Error(req, CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN");
    const auto oid = req.value("oid", 0ull);
    if (oid != 11 && oid != 12) return Error(req, CKR_KEY_HANDLE_INVALID, "CKR_KEY_HANDLE_INVALID");
    if (oid == 11 && s.always_authenticate) {
      if (!s.context_login) return Error(req, CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN");
      s.context_login = false;
    }
    if (s.cloud && !s.code_without_person && req.value("no_prompt", false))
      return Error(req, kCkrPromptRequired, "CKR_VTOKEN_PROMPT_REQUIRED");
    ok["signature"] = wire::Binary(Bytes(oid == 11 ? 256 : 64, 0xab));
    return ok;
  }
  return Error(req, CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED");
}

class FakeTransport final : public Transport {
 public:
  KspResult<void> Send(std::span<const std::uint8_t> data) override {
    reader_.Feed(data);
    for (;;) {
      auto next = reader_.Next();
      if (!next) return KspFail(Status::kDeviceNotReady, "fake agent: bad frame");
      if (!*next) return {};
      Json reply;
      {
        std::lock_guard lock(Fake().mu);
        reply = Handle(Fake(), **next);
      }
      Bytes frame = wire::EncodeFrame(reply);
      out_.insert(out_.end(), frame.begin(), frame.end());
    }
  }
  KspResult<std::size_t> Receive(std::span<std::uint8_t> buffer) override {
    const std::size_t n = std::min(buffer.size(), out_.size());
    std::copy_n(out_.begin(), n, buffer.begin());
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
    return n;  // 0 = closed: never happens while a reply is due
  }
  void DecorateHello(Json&) const override {}
  std::string Describe() const override { return "fake"; }

 private:
  wire::FrameReader reader_;
  std::deque<std::uint8_t> out_;
};

}  // namespace

void FakeAgentState::Reset() {
  std::lock_guard lock(mu);
  calls.clear();
  last_sign = nullptr;
  connections = 0;
  logged_in = false;
  can_prompt = false;
  always_authenticate = false;
  context_login = false;
  cloud = false;
  code_without_person = false;
  last_login = nullptr;
}

int FakeAgentState::Calls(const std::string& op) {
  std::lock_guard lock(mu);
  return calls[op];
}

FakeAgentState& Fake() {
  static FakeAgentState state;
  return state;
}

void UseFakeAgent() {
  Fake().Reset();
  Agent().Reset([]() -> KspResult<std::unique_ptr<Transport>> {
    std::lock_guard lock(Fake().mu);
    ++Fake().connections;
    Fake().logged_in = false;  // login state belongs to the connection
    return std::unique_ptr<Transport>(new FakeTransport());
  });
}

void UseNoAgent() {
  Agent().Reset([]() -> KspResult<std::unique_ptr<Transport>> { return KspFail(Status::kDeviceNotReady, "no agent (test)"); });
}

Bytes FakeRsaModulus() {
  Bytes n(256);
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(i * 7 + 1);
  n[0] = 0xc5;  // 2048 bits exactly
  n.insert(n.begin(), 0x00);  // a leading zero, as some tokens send
  return n;
}
Bytes FakeCertificate() { return Bytes{0x30, 0x03, 0x02, 0x01, 0x01}; }
Bytes FakeEcX() { return Bytes(32, 0x11); }
Bytes FakeEcY() { return Bytes(32, 0x22); }

}  // namespace vtoken::ksp::test
