// CloudToken over MemoryTransport (one class, a scripted service): objects
// built from credentials/list, the mechanism mapping onto signHash, SCAL1
// windows and SCAL2 binding, batches, a dead session; and the code sources
// (a scripted pinentry speaking Assuan, a code command).
#include <catch2/catch.hpp>

#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/ckr_names.h"
#include "remote-client/der.h"
#include "remote-client/memory_transport.h"
#include "tests/remote-client/test_keys.h"
#include "tokend/cloud/cloud_token.h"
#include "tokend/cloud/code_source.h"
#include "tests/agent/dispatcher_fixture.h"
#include "tokend/dispatcher.h"

using namespace vtoken;
using namespace vtoken::agent;
using namespace vtoken::agent::cloud;
using namespace std::chrono_literals;
using nlohmann::json;
using wire::Json;

namespace {

using csc::test::Rsa;
using csc::test::P256;

json Credential(const std::string& id, bool ec, int scal, int multisign) {
  json key = ec ? json{{"status", "enabled"}, {"algo", {"1.2.840.10045.2.1"}}, {"len", 256}, {"curve", "1.2.840.10045.3.1.7"}}
                : json{{"status", "enabled"}, {"algo", {"1.2.840.113549.1.1.1", "1.2.840.113549.1.1.10"}}, {"len", 2048}};
  return {{"credentialID", id},
          {"description", id + "-label"},
          {"key", key},
          {"cert", {{"status", "valid"}, {"certificates", {(ec ? P256() : Rsa()).base64}}, {"subjectDN", "CN=alice@example.org"},
                    {"issuerDN", "CN=test CA"}, {"validFrom", "20260101000000Z"}, {"validTo", "20990101000000Z"}}},
          {"SCAL", std::to_string(scal)},
          {"multisign", multisign},
          {"quota", {{"total", 100}, {"used", 1}}}};
}

std::string B64(const wire::Bytes& b) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < b.size(); i += 3) {
    unsigned v = b[i] << 16 | b[i + 1] << 8 | b[i + 2];
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == b.size()) out += {t[b[i] >> 2], t[(b[i] & 3) << 4], '=', '='};
  if (i + 2 == b.size()) out += {t[b[i] >> 2], t[((b[i] & 3) << 4) | (b[i + 1] >> 4)], t[(b[i + 1] & 15) << 2], '='};
  return out;
}

// A scripted service: answers by endpoint, counts calls.
struct Service {
  std::shared_ptr<csc::MemoryTransport> transport = std::make_shared<csc::MemoryTransport>();
  json credentials = json::array({Credential("rsa1", false, 1, 5), Credential("ec2", true, 2, 1)});
  int authorize = 0, sign = 0, list = 0, logins = 0, revokes = 0;
  bool unauthorized = false;
  std::vector<json> authorize_bodies;

  Service() {
    transport->SetHandler([this](const csc::HttpRequest& r) -> Result<csc::HttpResponse> {
      csc::HttpResponse out;
      out.status = 200;
      json body;
      const json req = json::parse(std::string(r.body.begin(), r.body.end()), nullptr, false);
      if (unauthorized) {
        out.status = 401;
        body = {{"error", "expired_token"}, {"error_description", "The access token is expired or revoked"}};
      } else if (r.url.ends_with("auth/login")) {
        ++logins;
        body = {{"access_token", "AT"}, {"refresh_token", "RT"}, {"expires_in", 3600}};
      } else if (r.url.ends_with("auth/revoke")) {
        ++revokes;
        out.status = 204;
      } else if (r.url.ends_with("credentials/list")) {
        ++list;
        json ids = json::array();
        for (auto& c : credentials) ids.push_back(c["credentialID"]);
        body = {{"credentialIDs", ids}, {"credentialInfos", credentials}};
      } else if (r.url.ends_with("credentials/authorize")) {
        ++authorize;
        authorize_bodies.push_back(req);
        body = {{"SAD", "sad-" + std::to_string(authorize)}, {"expiresIn", 300}};
      } else if (r.url.ends_with("signatures/signHash")) {
        ++sign;
        json sigs = json::array();
        const bool ec = req["credentialID"] == "ec2";
        for (std::size_t i = 0; i < req["hashes"].size(); ++i)
          sigs.push_back(ec ? B64(*csc::EcdsaRawToDer(wire::Bytes(64, 0x11))) : B64(wire::Bytes(256, 0x01)));
        body = {{"signatures", sigs}};
      } else {
        out.status = 404;
        body = {{"error", "invalid_request"}, {"error_description", "Unknown method"}};
      }
      const std::string text = out.status == 204 ? std::string() : body.dump();
      out.body.assign(text.begin(), text.end());
      out.content_type = "application/json";
      return out;
    });
  }

  std::shared_ptr<CloudToken> Token(CloudSettings settings = {}, AuthSource source = AuthSource::kCommand) {
    csc::ClientOptions o;
    o.base_url = "https://csc.test";
    auto client = std::make_shared<csc::Client>(o, transport);
    csc::SessionTokens session;
    session.access_token = Secret("AT");
    session.refresh_token = Secret("RT");
    session.expires = std::chrono::steady_clock::now() + 1h;
    client->SetSession(std::move(session));
    settings.source = source;
    if (settings.otp_command.empty()) settings.otp_command = "echo 123456";
    auto token = std::make_shared<CloudToken>(7, "https://csc.test", "alice@example.org", client, settings);
    REQUIRE(token->Refresh());
    return token;
  }
};

std::optional<wire::Bytes> Attr(const ObjectView& o, unsigned long type) {
  for (const auto& [t, v] : o.attrs)
    if (t == type) return v;
  return std::nullopt;
}
unsigned long Ulong(const ObjectView& o, unsigned long type) {
  unsigned long v = ~0UL;
  auto a = Attr(o, type);
  if (a && a->size() == sizeof v) std::memcpy(&v, a->data(), sizeof v);
  return v;
}
bool Bool(const ObjectView& o, unsigned long type) {
  auto a = Attr(o, type);
  return a && a->size() == 1 && (*a)[0];
}

std::uint64_t PrivateOid(const CloudToken& token, unsigned long key_type) {
  for (const auto& o : token.Objects(true))
    if (Ulong(o, CKA_CLASS) == CKO_PRIVATE_KEY && Ulong(o, CKA_KEY_TYPE) == key_type) return o.oid;
  FAIL("no private key");
  return 0;
}

wire::Bytes Sha256DigestInfo() {
  wire::Bytes d = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
  d.resize(d.size() + 32, 0xab);
  return d;
}

}  // namespace

TEST_CASE("cloud token: objects from credentials/list, built like the emulated token's") {
  Service svc;
  auto token = svc.Token();
  const auto pub = token->Objects(false);
  const auto all = token->Objects(true);
  CHECK(pub.size() == 4);  // two certificates, two public keys
  CHECK(all.size() == 6);
  for (const auto& o : all) {
    if (Ulong(o, CKA_CLASS) != CKO_PRIVATE_KEY) continue;
    CHECK(Bool(o, CKA_SIGN));
    CHECK(Bool(o, CKA_SENSITIVE));
    CHECK_FALSE(Bool(o, CKA_EXTRACTABLE));
    CHECK_FALSE(Bool(o, CKA_DECRYPT));
    CHECK_FALSE(Bool(o, CKA_ALWAYS_AUTHENTICATE));
    CHECK(o.is_private);
    // Certificate, public and private key share one CKA_ID.
    int same = 0;
    for (const auto& p : all) same += Attr(p, CKA_ID) == Attr(o, CKA_ID);
    CHECK(same == 3);
  }
  const auto info = token->Info();
  CHECK((info.flags & CKF_PROTECTED_AUTHENTICATION_PATH));
  CHECK((info.flags & CKF_WRITE_PROTECTED));
  const auto generation = token->generation();
  auto again = token->Refresh();
  REQUIRE(again);
  CHECK_FALSE(*again);
  CHECK(token->generation() == generation);
  CHECK(token->Objects(true)[0].oid == all[0].oid);
}

TEST_CASE("cloud token: CKA_ALWAYS_AUTHENTICATE per credential by configuration") {
  Service svc;
  CloudSettings s;
  s.objects.always_authenticate_credentials = {"ec2"};
  auto token = svc.Token(s);
  CHECK(token->RequiresContextLogin(PrivateOid(*token, CKK_EC)));
  CHECK_FALSE(token->RequiresContextLogin(PrivateOid(*token, CKK_RSA)));
}

TEST_CASE("cloud token: SCAL2 ECDSA — one authorization bound to the hash, raw r||s back") {
  Service svc;
  auto token = svc.Token();
  SignRequest r;
  r.oid = PrivateOid(*token, CKK_EC);
  r.mechanism = CKM_ECDSA;
  r.inputs = {wire::Bytes(32, 0x5a)};
  for (int i = 0; i < 2; ++i) {
    auto sig = token->Sign(r);
    REQUIRE(sig);
    CHECK(*sig == wire::Bytes(64, 0x11));
  }
  CHECK(svc.authorize == 2);
  CHECK(svc.sign == 2);
  CHECK(svc.authorize_bodies[0]["numSignatures"] == 1);
  CHECK(svc.authorize_bodies[0]["hashes"].size() == 1);
  CHECK(svc.authorize_bodies[0]["hashAlgorithmOID"] == "2.16.840.1.101.3.4.2.1");
}

TEST_CASE("cloud token: SCAL1 — one code covers the following signatures in the window") {
  Service svc;
  CloudSettings s;
  s.otp_command = "echo 123456";
  auto token = svc.Token(s);
  SignRequest r;
  r.oid = PrivateOid(*token, CKK_RSA);
  r.mechanism = CKM_RSA_PKCS;
  r.inputs = {Sha256DigestInfo()};
  for (int i = 0; i < 3; ++i) REQUIRE(token->Sign(r));
  CHECK(svc.authorize == 1);
  CHECK(svc.sign == 3);
  CHECK(svc.authorize_bodies[0]["numSignatures"] == 5);  // multisign (quota allows it)
  CHECK_FALSE(svc.authorize_bodies[0].contains("hashes"));

  // A code from a context-specific login is for one signature only.
  r.code = Secret("654321");
  r.single_use_code = true;
  REQUIRE(token->Sign(r));
  CHECK(svc.authorize == 2);
  CHECK(svc.authorize_bodies[1]["numSignatures"] == 1);
}

TEST_CASE("cloud token: no_prompt — a code that needs a person is refused, other sources still sign") {
  Service svc;
  CloudSettings s;
  s.pinentry = "/nonexistent/pinentry";  // were it run, the error would be CKR_DEVICE_ERROR
  auto token = svc.Token(s, AuthSource::kPrompt);
  SignRequest ec;
  ec.oid = PrivateOid(*token, CKK_EC);
  ec.mechanism = CKM_ECDSA;
  ec.inputs = {wire::Bytes(32, 0x5a)};
  ec.no_prompt = true;
  auto refused = token->Sign(ec);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().rv == kCkrPromptRequired);
  CHECK(svc.authorize == 0);
  ec.code = Secret("123456");  // a code the application gave: nobody is asked
  CHECK(token->Sign(ec));

  // SCAL1: an open window needs no code, so no_prompt signs from it.
  SignRequest rsa;
  rsa.oid = PrivateOid(*token, CKK_RSA);
  rsa.mechanism = CKM_RSA_PKCS;
  rsa.inputs = {Sha256DigestInfo()};
  rsa.no_prompt = true;
  CHECK(token->Sign(rsa).error().rv == kCkrPromptRequired);
  rsa.code = Secret("123456");
  REQUIRE(token->Sign(rsa));  // opens the window
  rsa.code.reset();
  CHECK(token->Sign(rsa));
  CHECK(svc.authorize == 2);
  CHECK(svc.sign == 3);
  CHECK(token->SignBatch(rsa).error().rv == kCkrPromptRequired);  // a batch is authorized anew: nobody to ask

  // The code command needs nobody: no_prompt changes nothing.
  auto command = svc.Token({}, AuthSource::kCommand);
  ec.oid = PrivateOid(*command, CKK_EC);
  ec.code.reset();
  CHECK(command->Sign(ec));
}

TEST_CASE("cloud token: inputs the service cannot sign are refused before any call") {
  Service svc;
  auto token = svc.Token();
  SignRequest r;
  r.oid = PrivateOid(*token, CKK_RSA);
  r.mechanism = CKM_RSA_PKCS;
  r.inputs = {wire::Bytes(36, 1)};  // TLS 1.0 MD5||SHA-1: no hash algorithm to name
  auto raw = token->Sign(r);
  REQUIRE_FALSE(raw);
  CHECK(raw.error().rv == CKR_DATA_INVALID);
  r.mechanism = CKM_ECDSA;
  CHECK(token->Sign(r).error().rv == CKR_KEY_TYPE_INCONSISTENT);
  CHECK(svc.authorize == 0);
}

TEST_CASE("cloud token: a batch is one authorization for all hashes; more than multisign is refused") {
  Service svc;
  auto token = svc.Token();
  SignRequest r;
  r.credential_id = "rsa1";
  r.mechanism = CKM_RSA_PKCS;
  r.inputs = {Sha256DigestInfo(), Sha256DigestInfo(), Sha256DigestInfo()};
  auto sigs = token->SignBatch(r);
  REQUIRE(sigs);
  CHECK(sigs->size() == 3);
  CHECK(svc.authorize == 1);
  CHECK(svc.authorize_bodies[0]["numSignatures"] == 3);
  CHECK(svc.authorize_bodies[0]["hashes"].size() == 3);
  r.inputs.resize(6, Sha256DigestInfo());
  auto big = token->SignBatch(r);
  REQUIRE_FALSE(big);
  CHECK(big.error().rv == CKR_ARGUMENTS_BAD);
  CHECK(svc.authorize == 1);
}

TEST_CASE("cloud token: a revoked session marks the token dead") {
  Service svc;
  auto token = svc.Token();
  svc.unauthorized = true;
  auto r = token->Refresh();
  REQUIRE_FALSE(r);
  CHECK(r.error().rv == CKR_DEVICE_REMOVED);
  CHECK(token->dead());
  CHECK(token->Objects(true).size() == 6);  // the cache stays until the slot is emptied
}

TEST_CASE("code sources: a scripted pinentry (Assuan) and a code command") {
  const auto dir = std::filesystem::temp_directory_path() / ("vtoken-pinentry-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto script = [&](const std::string& name, const std::string& getpin) {
    const auto path = dir / name;
    std::ofstream(path) << "#!/bin/sh\necho 'OK hello'\nwhile read -r line; do\n  case \"$line\" in\n"
                        << "    GETPIN) " << getpin << " ;;\n    BYE) echo OK; exit 0 ;;\n    *) echo OK ;;\n  esac\ndone\n";
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return path.string();
  };
  PromptText text{"title", "desc\nline two", "Code:", ""};
  auto code = AskPinentry(script("ok", "echo 'D 12%2534'; echo OK"), text, 10s);
  REQUIRE(code);
  CHECK(code->view() == "12%34");
  auto cancel = AskPinentry(script("cancel", "echo 'ERR 83886179 Operation cancelled'"), text, 10s);
  REQUIRE_FALSE(cancel);
  CHECK(cancel.error().rv == CKR_FUNCTION_CANCELED);
  auto silent = AskPinentry(script("silent", "sleep 30"), text, 1s);
  REQUIRE_FALSE(silent);
  CHECK(silent.error().rv == CKR_FUNCTION_CANCELED);
  auto missing = AskPinentry((dir / "nope").string(), text, 1s);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().rv == CKR_DEVICE_ERROR);
  std::filesystem::remove_all(dir);

  auto cmd = RunCodeCommand("echo '  654321 '", 5s);
  REQUIRE(cmd);
  CHECK(cmd->view() == "654321");
  CHECK(RunCodeCommand("exit 3", 5s).error().rv == CKR_FUNCTION_FAILED);
  CHECK(AssuanEscape("a%b\nc") == "a%25b%0Ac");
}

namespace {

// The service the dispatcher's cloud logins reach; a base class, so it is
// built before the dispatcher that holds a client factory pointing at it.
struct WithService {
  Service svc;
};

DispatcherOptions ScriptedCloud(Service& svc) {
  DispatcherOptions options;
  options.cloud.source = AuthSource::kCommand;
  options.cloud.otp_command = "echo 111111";
  options.make_cloud_client = [&svc](const std::string& service) -> Result<std::shared_ptr<csc::Client>> {
    csc::ClientOptions o;
    o.base_url = service;
    return std::make_shared<csc::Client>(o, svc.transport);
  };
  return options;
}

// The dispatcher with a registry in a temp XDG tree and cloud logins going
// to the scripted service.
struct AgentFixture : WithService, test::DispatcherFixture {
  AgentFixture() : test::DispatcherFixture(ScriptedCloud(svc)) {}
  ConnectionState& Connect() { return test::DispatcherFixture::Connect(true, true); }
  std::uint64_t Login(ConnectionState& c) {
    Json reply = Call(c, {{"op", "cloud_login"}, {"service", "https://csc.test"}, {"email", "alice@example.org"},
                          {"password", "pw"}, {"otp", "123456"}});
    REQUIRE(reply["ok"]);
    return reply["slot_id"].get<std::uint64_t>();
  }
};

Json Code(const std::string& s) { return test::SecretBytes(s); }

}  // namespace

TEST_CASE("cloud slot: login inserts the token, PKCS#11 login rules, read-only, a dead session removes it") {
  AgentFixture f;
  auto& cli = f.Connect();
  auto& app = f.Connect();
  const std::uint64_t slot = f.Login(cli);
  Json s = f.Slot(slot);
  CHECK(s["kind"] == "cloud");
  CHECK(s["present"] == true);
  CHECK((s["token"]["flags"].get<unsigned long>() & CKF_PROTECTED_AUTHENTICATION_PATH));

  CHECK(f.Call(app, {{"op", "objects"}, {"slot_id", slot}})["objects"].size() == 4);
  CHECK(f.Rv(app, {{"op", "login"}, {"slot_id", slot}, {"user_type", 0u}, {"pin", nullptr}}) == "CKR_USER_TYPE_INVALID");
  CHECK(f.Rv(app, {{"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", Code("abc")}}) == "CKR_PIN_INVALID");
  CHECK(f.Rv(app, {{"op", "login"}, {"slot_id", slot}, {"user_type", 1u}, {"pin", Code("654321")}}) == "CKR_OK");
  const Json objects = f.Call(app, {{"op", "objects"}, {"slot_id", slot}})["objects"];
  CHECK(objects.size() == 6);
  CHECK(f.Rv(app, {{"op", "create_object"}, {"slot_id", slot}, {"attrs", Json::array()}}) == "CKR_TOKEN_WRITE_PROTECTED");

  std::uint64_t ec_oid = 0;
  for (const auto& o : objects) {
    const auto attrs = wire::DecodeAttributes(o, "attrs");
    REQUIRE(attrs);
    ObjectView v{o["oid"].get<std::uint64_t>(), *attrs, {}, false, true};
    if (Ulong(v, CKA_CLASS) == CKO_PRIVATE_KEY && Ulong(v, CKA_KEY_TYPE) == CKK_EC) ec_oid = v.oid;
  }
  REQUIRE(ec_oid != 0);
  // The PIN given at login is the code of the next signature; the command is not asked.
  Json sig = f.Call(app, {{"op", "sign"}, {"slot_id", slot}, {"oid", ec_oid}, {"mechanism", CKM_ECDSA},
                          {"data", wire::Binary(wire::Bytes(32, 7))}});
  REQUIRE(sig["ok"]);
  CHECK(sig["signature"].get_binary().size() == 64);
  REQUIRE(f.svc.authorize_bodies.size() == 1);
  CHECK(f.svc.authorize_bodies[0]["authData"][0]["value"] == "654321");

  // The service forgets the session: the next signature fails and the slot empties.
  f.svc.unauthorized = true;
  CHECK(f.Rv(app, {{"op", "sign"}, {"slot_id", slot}, {"oid", ec_oid}, {"mechanism", CKM_ECDSA},
                   {"data", wire::Binary(wire::Bytes(32, 7))}}) == "CKR_DEVICE_REMOVED");
  CHECK(f.Slot(slot)["present"] == false);
  CHECK(f.Rv(app, {{"op", "objects"}, {"slot_id", slot}}) == "CKR_TOKEN_NOT_PRESENT");
  {
    std::lock_guard lock(f.sink.mu);
    bool logged_out = false;
    for (const auto& [id, e] : f.sink.sent) logged_out |= id == app.id && e["event"] == "logged_out" && e["slot_id"] == slot;
    CHECK(logged_out);
  }

  // The next login brings it back in the same slot; logout revokes and empties it.
  f.svc.unauthorized = false;
  CHECK(f.Login(cli) == slot);
  CHECK(f.Slot(slot)["present"] == true);
  CHECK(f.Rv(app, {{"op", "sign"}, {"slot_id", slot}, {"oid", ec_oid}, {"mechanism", CKM_ECDSA},
                   {"data", wire::Binary(wire::Bytes(32, 7))}}) == "CKR_USER_NOT_LOGGED_IN");
  Json out = f.Call(cli, {{"op", "cloud_logout"}});
  REQUIRE(out["ok"]);
  CHECK(out["logged_out"].size() == 1);
  CHECK(f.svc.revokes == 1);
  CHECK(f.Slot(slot)["present"] == false);
  Json status = f.Call(cli, {{"op", "cloud_status"}});
  REQUIRE(status["accounts"].size() == 1);
  CHECK(status["accounts"][0]["present"] == false);
}
