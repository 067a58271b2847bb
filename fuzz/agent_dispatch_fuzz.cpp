// libFuzzer target: the agent's request path without sockets. Each input is
// one frame's payload, decoded as the server decodes it: a map is one
// request, or, with a "fuzz_seq" array, a sequence of requests on one
// connection (after hello), so the fuzzer reaches states such as "logged
// in, then sign".
// The agent holds one emulated token with an RSA and an EC key, made once.
// Cloud logins are refused before any network (make_cloud_client fails).
//
//   VTOKEN_FUZZ_SEEDS=DIR fuzz_agent_dispatch   writes seed inputs to DIR
//   fuzz_agent_dispatch CORPUS_DIR [libFuzzer options]
#include <p11-kit/pkcs11.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/wire.h"
#include "tokend/dispatcher.h"
#include "tokend/emulated/key_material.h"
#include "tokend/registry.h"

namespace {

using vtoken::wire::Json;
namespace agent = vtoken::agent;
namespace wire = vtoken::wire;

struct NullSink : agent::EventSink {
  void Broadcast(const Json&) override {}
  void SendTo(std::uint64_t, const Json&) override {}
};

Json Pin(const char* pin) { return wire::Binary(vtoken::Secret(pin)); }
const wire::Bytes kTrue{CK_TRUE};

struct Agent {
  std::filesystem::path root;
  NullSink sink;
  std::unique_ptr<agent::Registry> registry;
  std::unique_ptr<agent::Dispatcher> dispatcher;
  std::uint64_t slot = 0, rsa = 0, ec = 0;

  Agent() {
    char tmpl[] = "/tmp/vtoken-fuzz.XXXXXX";
    root = mkdtemp(tmpl);
    for (const char* d : {"run", "data", "config"}) std::filesystem::create_directories(root / d);
    setenv("XDG_RUNTIME_DIR", (root / "run").c_str(), 1);
    setenv("XDG_DATA_HOME", (root / "data").c_str(), 1);
    setenv("XDG_CONFIG_HOME", (root / "config").c_str(), 1);
    agent::TokenPolicy policy;
    policy.kdf = "pbkdf2";
    policy.kdf_cost = 1;  // the fuzzer logs in thousands of times
    registry = std::move(*agent::Registry::Open(root / "data" / "vtoken", policy));
    agent::DispatcherOptions options;
    options.make_cloud_client = [](const std::string&) -> vtoken::Result<std::shared_ptr<vtoken::csc::Client>> {
      return vtoken::Fail(CKR_DEVICE_ERROR, "no network in the fuzzer");
    };
    dispatcher = std::make_unique<agent::Dispatcher>(*registry, sink, std::move(options));
    agent::ConnectionState c;
    dispatcher->Connect(c);
    Call(c, {{"op", "hello"}, {"version", 1u}, {"client", "cli"}, {"app", "fuzz"}, {"pid", 1u}});
    Json created = Call(c, {{"op", "token_create"}, {"name", "fz"}, {"label", "fz"}, {"pin", "123456"}, {"puk", "12345678"}});
    slot = created.value("slot_id", 0u);
    Call(c, {{"op", "login"}, {"slot_id", slot}, {"user_type", CKU_USER}, {"pin", Pin("123456")}});
    Json rsa_pub = wire::EncodeAttributes({{CKA_TOKEN, kTrue}, {CKA_MODULUS_BITS, agent::UlongBytes(2048)}});
    Json rsa_priv = wire::EncodeAttributes({{CKA_TOKEN, kTrue}, {CKA_SIGN, kTrue}, {CKA_DECRYPT, kTrue}});
    Json r = Call(c, {{"op", "generate_key_pair"}, {"slot_id", slot}, {"mechanism", CKM_RSA_PKCS_KEY_PAIR_GEN},
                      {"public_attrs", rsa_pub}, {"private_attrs", rsa_priv}});
    if (r.contains("private")) rsa = r["private"].value("oid", 0u);
    const wire::Bytes p256 = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};  // the OID, DER
    Json ec_pub = wire::EncodeAttributes({{CKA_TOKEN, kTrue}, {CKA_EC_PARAMS, p256}});
    Json ec_priv = wire::EncodeAttributes({{CKA_TOKEN, kTrue}, {CKA_SIGN, kTrue}});
    r = Call(c, {{"op", "generate_key_pair"}, {"slot_id", slot}, {"mechanism", CKM_EC_KEY_PAIR_GEN},
                 {"public_attrs", ec_pub}, {"private_attrs", ec_priv}});
    if (r.contains("private")) ec = r["private"].value("oid", 0u);
    dispatcher->Disconnect(c);
    if (!slot || !rsa || !ec) {
      std::fprintf(stderr, "fuzz setup failed: slot %llu rsa %llu ec %llu\n", (unsigned long long)slot,
                   (unsigned long long)rsa, (unsigned long long)ec);
      std::abort();
    }
  }
  ~Agent() {
    dispatcher.reset();
    registry.reset();
    std::error_code ec_ignored;
    std::filesystem::remove_all(root, ec_ignored);
  }
  Json Call(agent::ConnectionState& c, Json request) {
    request["id"] = next_id++;
    Json reply = dispatcher->Handle(c, request);
    return reply.value("ok", false) ? reply : Json::object();
  }
  std::uint64_t next_id = 1;

  // The seeds: requests a module or the CLI sends, alone and in sequences.
  std::vector<Json> Seeds() const {
    Json login = {{"op", "login"}, {"slot_id", slot}, {"user_type", CKU_USER}, {"pin", Pin("123456")}};
    Json digest_info = wire::Binary(std::vector<std::uint8_t>(51, 0x30));
    std::vector<Json> seeds = {
        {{"op", "slots"}},
        {{"op", "status"}},
        {{"op", "token_list"}},
        {{"op", "objects"}, {"slot_id", slot}},
        login,
        Json::array({login, {{"op", "sign"}, {"slot_id", slot}, {"oid", rsa}, {"mechanism", CKM_RSA_PKCS}, {"data", digest_info}}}),
        Json::array({login, {{"op", "sign"}, {"slot_id", slot}, {"oid", rsa}, {"mechanism", CKM_RSA_PKCS_PSS},
                             {"data", wire::Binary(std::vector<std::uint8_t>(32, 7))},
                             {"params", {{"hash", CKM_SHA256}, {"mgf", CKG_MGF1_SHA256}, {"salt", 32u}}}}}),
        Json::array({login, {{"op", "sign"}, {"slot_id", slot}, {"oid", ec}, {"mechanism", CKM_ECDSA},
                             {"data", wire::Binary(std::vector<std::uint8_t>(32, 9))}}}),
        Json::array({login, {{"op", "decrypt"}, {"slot_id", slot}, {"oid", rsa}, {"mechanism", CKM_RSA_PKCS},
                             {"data", wire::Binary(std::vector<std::uint8_t>(256, 1))}}}),
        Json::array({login, {{"op", "create_object"}, {"slot_id", slot},
                             {"attrs", wire::EncodeAttributes({{CKA_CLASS, agent::UlongBytes(CKO_DATA)}, {CKA_LABEL, {'x'}}})}}}),
        Json::array({login, {{"op", "set_attributes"}, {"slot_id", slot}, {"oid", rsa},
                             {"attrs", wire::EncodeAttributes({{CKA_LABEL, {'y'}}})}}}),
        Json::array({login, {{"op", "destroy_object"}, {"slot_id", slot}, {"oid", ec}}}),
        Json::array({login, {{"op", "logout"}, {"slot_id", slot}}}),
        {{"op", "set_pin"}, {"slot_id", slot}, {"old_pin", Pin("123456")}, {"new_pin", Pin("654321")}},
        Json::array({{{"op", "login"}, {"slot_id", slot}, {"user_type", CKU_SO}, {"pin", Pin("12345678")}},
                     {{"op", "init_pin"}, {"slot_id", slot}, {"pin", Pin("123456")}}}),
        {{"op", "init_token"}, {"slot_id", 1u}, {"so_pin", Pin("12345678")}, {"label", "new"}},
        {{"op", "token_create"}, {"name", "t2"}, {"pin", "1234"}, {"puk", "12345678"}},
        {{"op", "token_unplug"}, {"name", "fz"}},
        {{"op", "token_plug"}, {"name", "fz"}},
        {{"op", "token_change_pin"}, {"name", "fz"}, {"old_pin", "123456"}, {"new_pin", "123456"}},
        {{"op", "token_unblock"}, {"name", "fz"}, {"puk", "12345678"}, {"new_pin", "123456"}},
        {{"op", "cloud_status"}},
        {{"op", "cloud_login"}, {"service", "https://127.0.0.1:1"}, {"email", "a@b"}, {"password", "p"}, {"otp", "123456"}},
        {{"op", "cloud_logout"}},
        {{"op", "cloud_sign_batch"}, {"slot_id", slot}, {"oid", rsa}, {"mechanism", CKM_RSA_PKCS},
         {"hashes", Json::array({wire::Binary(std::vector<std::uint8_t>(32, 1))})}},
    };
    return seeds;
  }
};

Agent* the_agent = nullptr;

void RunOne(agent::ConnectionState& c, const Json& request) {
  if (!request.is_object()) return;
  the_agent->dispatcher->Handle(c, request);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  the_agent = new Agent();
  std::atexit([] { delete the_agent; });  // libFuzzer and the replayer end with exit(): remove the temp tree
  if (const char* dir = getenv("VTOKEN_FUZZ_SEEDS")) {
    std::filesystem::create_directories(dir);
    int n = 0;
    for (const Json& seed : the_agent->Seeds()) {
      Json payload = seed;
      if (payload.is_array()) {
        for (auto& r : payload) r["id"] = 1u;
        payload = Json{{"fuzz_seq", payload}};
      } else {
        payload["id"] = 1u;
      }
      std::vector<std::uint8_t> bytes = Json::to_cbor(payload);
      std::ofstream(std::filesystem::path(dir) / ("seed-" + std::to_string(n++)), std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    std::printf("%d seeds written to %s\n", n, dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // As the server does: a frame's payload decodes to a map, or is refused.
  auto decoded = wire::DecodePayload(std::span(data, size));
  if (!decoded) return 0;
  agent::ConnectionState c;
  the_agent->dispatcher->Connect(c);
  the_agent->dispatcher->Handle(c, {{"op", "hello"}, {"id", 0u}, {"version", 1u}, {"client", "pkcs11"},
                                    {"app", "fuzz"}, {"pid", 2u}});
  const Json* seq = decoded->contains("fuzz_seq") ? &(*decoded)["fuzz_seq"] : nullptr;
  if (seq && seq->is_array() && seq->size() <= 16)
    for (const auto& r : *seq) RunOne(c, r);
  else
    RunOne(c, *decoded);
  the_agent->dispatcher->Disconnect(c);
  return 0;
}
