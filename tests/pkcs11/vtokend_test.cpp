// End-to-end against the real agent: the module starts vtokend on demand
// (autostart, like gpg-agent) in a private XDG sandbox, then a token is
// initialized through the free slot, the PIN set, keys generated, every
// signing mechanism used and verified, and a removal observed with
// C_WaitForSlotEvent. Skipped (with a warning) when no vtokend is built:
// $VTOKEN_TEST_VTOKEND, else <build>/bin/vtokend.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "common/wire.h"
#include "module_fixture.h"
#include "pkcs11/crypto.h"

using namespace vtoken;
using namespace vtoken::pkcs11::test;
using Bytes = std::vector<CK_BYTE>;

namespace {

std::filesystem::path Vtokend() {
  if (const char* env = std::getenv("VTOKEN_TEST_VTOKEND"); env && *env) return env;
  std::error_code ec;
  auto guess = std::filesystem::weakly_canonical(VTOKEN_P11_AGENT_GUESS, ec);
  return ec ? std::filesystem::path() : guess;
}

// One request on a connection of our own, as the vtoken CLI would send it.
wire::Json AgentRequest(const std::filesystem::path& socket, wire::Json request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  wire::Json reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    wire::Json hello{{"id", 1u}, {"op", "hello"}, {"version", 1}, {"client", "cli"}, {"app", "test"}, {"pid", 1u}};
    request["id"] = 2u;
    if (wire::WriteFrame(fd, hello) && wire::ReadFrame(fd) && wire::WriteFrame(fd, request)) {
      for (int i = 0; i < 8; ++i) {
        auto r = wire::ReadFrame(fd);
        if (!r || !*r) break;
        if ((**r).value("id", 0u) == 2u) {
          reply = **r;
          break;
        }
      }
    }
  }
  ::close(fd);
  return reply;
}

struct WithVtokend {
  std::filesystem::path program = Vtokend();
  bool available = !program.empty() && ::access(program.c_str(), X_OK) == 0;
  std::unique_ptr<Sandbox> sandbox;
  CK_FUNCTION_LIST* f = P11();

  WithVtokend() {
    if (!available) return;
    sandbox = std::make_unique<Sandbox>("[agent]\nautostart = true\nprogram = " + program.string() +
                                        "\ntimeout_ms = 60000\nidle_exit_seconds = 30\n[token]\nkdf = pbkdf2\n");
    REQUIRE(f->C_Initialize(nullptr) == CKR_OK);
  }
  ~WithVtokend() {
    if (!available) return;
    f->C_Finalize(nullptr);
    AgentRequest(sandbox->socket(), {{"op", "shutdown"}});
    for (int i = 0; i < 50 && std::filesystem::exists(sandbox->socket()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The always-present free slot (the one with an uninitialized token); the
  // first C_GetSlotList autostarts the agent.
  CK_SLOT_ID FreeSlot() {
    CK_ULONG n = 0;
    REQUIRE(f->C_GetSlotList(CK_TRUE, nullptr, &n) == CKR_OK);
    REQUIRE(n >= 1);
    std::vector<CK_SLOT_ID> slots(n);
    REQUIRE(f->C_GetSlotList(CK_TRUE, slots.data(), &n) == CKR_OK);
    CK_SLOT_ID free_slot = CK_UNAVAILABLE_INFORMATION;
    for (CK_SLOT_ID s : slots) {
      CK_TOKEN_INFO ti;
      REQUIRE(f->C_GetTokenInfo(s, &ti) == CKR_OK);
      if (!(ti.flags & CKF_TOKEN_INITIALIZED)) free_slot = s;
    }
    REQUIRE(free_slot != CK_UNAVAILABLE_INFORMATION);
    return free_slot;
  }
};

// A token label as C_InitToken takes it: 32 bytes, blank-padded.
std::array<CK_UTF8CHAR, 32> Label(std::string_view text) {
  std::array<CK_UTF8CHAR, 32> label;
  label.fill(' ');
  std::memcpy(label.data(), text.data(), std::min(text.size(), label.size()));
  return label;
}

}  // namespace

TEST_CASE("vtokend: init token, PIN, keygen, every mechanism, removal") {
  WithVtokend t;
  REQUIRE(t.available);  // <build>/bin/vtokend, or $VTOKEN_TEST_VTOKEND
  CK_FUNCTION_LIST* f = t.f;
  const CK_SLOT_ID free_slot = t.FreeSlot();

  CK_UTF8CHAR so_pin[] = "87654321";
  CK_UTF8CHAR pin[] = "1234";
  CK_UTF8CHAR new_pin[] = "4321";
  auto label = Label("e2e");
  REQUIRE(f->C_InitToken(free_slot, so_pin, 8, label.data()) == CKR_OK);
  CK_TOKEN_INFO ti;
  REQUIRE(f->C_GetTokenInfo(free_slot, &ti) == CKR_OK);
  CHECK((ti.flags & CKF_TOKEN_INITIALIZED) != 0);
  CHECK(Unpad(ti.label, 32) == "e2e");

  CK_SESSION_HANDLE h;
  REQUIRE(f->C_OpenSession(free_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h) == CKR_OK);
  REQUIRE(f->C_Login(h, CKU_SO, so_pin, 8) == CKR_OK);
  REQUIRE(f->C_InitPIN(h, pin, 4) == CKR_OK);
  REQUIRE(f->C_Logout(h) == CKR_OK);
  CK_UTF8CHAR wrong[] = "0000";
  CHECK(f->C_Login(h, CKU_USER, wrong, 4) == CKR_PIN_INCORRECT);
  REQUIRE(f->C_Login(h, CKU_USER, pin, 4) == CKR_OK);
  CHECK(f->C_SetPIN(h, pin, 4, new_pin, 4) == CKR_OK);

  CK_BBOOL yes = CK_TRUE;
  CK_ULONG bits = 2048;
  CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  CK_BYTE rsa_id[] = {1}, ec_id[] = {2};
  CK_MECHANISM rsa_gen{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  CK_MECHANISM ec_gen{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_ATTRIBUTE rsa_pub_t[] = {{CKA_TOKEN, &yes, 1}, {CKA_MODULUS_BITS, &bits, sizeof bits}, {CKA_VERIFY, &yes, 1}, {CKA_ID, rsa_id, 1}};
  CK_ATTRIBUTE rsa_priv_t[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_DECRYPT, &yes, 1}, {CKA_ID, rsa_id, 1}};
  CK_ATTRIBUTE ec_pub_t[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, p256, sizeof p256}, {CKA_VERIFY, &yes, 1}, {CKA_ID, ec_id, 1}};
  CK_ATTRIBUTE ec_priv_t[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_ID, ec_id, 1}};
  CK_OBJECT_HANDLE rsa_pub, rsa_priv, ec_pub, ec_priv;
  REQUIRE(f->C_GenerateKeyPair(h, &rsa_gen, rsa_pub_t, 4, rsa_priv_t, 5, &rsa_pub, &rsa_priv) == CKR_OK);
  REQUIRE(f->C_GenerateKeyPair(h, &ec_gen, ec_pub_t, 4, ec_priv_t, 4, &ec_pub, &ec_priv) == CKR_OK);

  const Bytes data(100, 'd');
  auto sign_verify = [&](CK_MECHANISM m, CK_OBJECT_HANDLE priv, CK_OBJECT_HANDLE pub, Bytes input) {
    INFO("mechanism " << std::hex << m.mechanism);
    REQUIRE(f->C_SignInit(h, &m, priv) == CKR_OK);
    CK_ULONG len = 0;
    REQUIRE(f->C_Sign(h, input.data(), input.size(), nullptr, &len) == CKR_OK);
    Bytes sig(len);
    REQUIRE(f->C_Sign(h, input.data(), input.size(), sig.data(), &len) == CKR_OK);
    REQUIRE(f->C_VerifyInit(h, &m, pub) == CKR_OK);
    CHECK(f->C_Verify(h, input.data(), input.size(), sig.data(), len) == CKR_OK);
  };
  for (CK_MECHANISM_TYPE hash : {CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512}) {
    const CK_MECHANISM_TYPE pkcs = hash == CKM_SHA_1 ? CKM_SHA1_RSA_PKCS
                                   : hash == CKM_SHA224 ? CKM_SHA224_RSA_PKCS
                                   : hash == CKM_SHA256 ? CKM_SHA256_RSA_PKCS
                                   : hash == CKM_SHA384 ? CKM_SHA384_RSA_PKCS
                                                        : CKM_SHA512_RSA_PKCS;
    const CK_MECHANISM_TYPE pss = hash == CKM_SHA_1 ? CKM_SHA1_RSA_PKCS_PSS
                                  : hash == CKM_SHA224 ? CKM_SHA224_RSA_PKCS_PSS
                                  : hash == CKM_SHA256 ? CKM_SHA256_RSA_PKCS_PSS
                                  : hash == CKM_SHA384 ? CKM_SHA384_RSA_PKCS_PSS
                                                       : CKM_SHA512_RSA_PKCS_PSS;
    const CK_MECHANISM_TYPE ecdsa = hash == CKM_SHA_1 ? CKM_ECDSA_SHA1
                                    : hash == CKM_SHA224 ? CKM_ECDSA_SHA224
                                    : hash == CKM_SHA256 ? CKM_ECDSA_SHA256
                                    : hash == CKM_SHA384 ? CKM_ECDSA_SHA384
                                                         : CKM_ECDSA_SHA512;
    CK_RSA_PKCS_PSS_PARAMS params{hash, vtoken::pkcs11::MgfFor(hash), vtoken::pkcs11::DigestLength(hash)};
    sign_verify({pkcs, nullptr, 0}, rsa_priv, rsa_pub, data);
    sign_verify({pss, &params, sizeof params}, rsa_priv, rsa_pub, data);
    sign_verify({ecdsa, nullptr, 0}, ec_priv, ec_pub, data);
  }
  const Bytes digest = Hash(CKM_SHA256, data);
  CK_RSA_PKCS_PSS_PARAMS params{CKM_SHA256, CKG_MGF1_SHA256, 32};
  sign_verify({CKM_RSA_PKCS, nullptr, 0}, rsa_priv, rsa_pub, vtoken::pkcs11::DigestInfo(CKM_SHA256, digest));
  sign_verify({CKM_RSA_PKCS_PSS, &params, sizeof params}, rsa_priv, rsa_pub, digest);
  sign_verify({CKM_ECDSA, nullptr, 0}, ec_priv, ec_pub, digest);

  // Removal: unplug the token through the agent (as `vtoken token unplug` does).
  std::string name;
  auto status = AgentRequest(t.sandbox->socket(), {{"op", "slots"}});
  for (const auto& s : status.value("slots", wire::Json::array()))
    if (s.value("slot_id", CK_SLOT_ID{0}) == free_slot) name = s.value("name", "");
  REQUIRE_FALSE(name.empty());
  CK_SLOT_ID event_slot;
  while (f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &event_slot, nullptr) == CKR_OK) {
  }
  auto unplugged = AgentRequest(t.sandbox->socket(), {{"op", "token_unplug"}, {"name", name}});
  REQUIRE(unplugged.value("ok", false));
  REQUIRE(f->C_WaitForSlotEvent(0, &event_slot, nullptr) == CKR_OK);
  CHECK(event_slot == free_slot);
  CK_SESSION_INFO si;
  CHECK(f->C_GetSessionInfo(h, &si) == CKR_DEVICE_REMOVED);
  CHECK(f->C_GetTokenInfo(free_slot, &ti) == CKR_TOKEN_NOT_PRESENT);
}

// Many threads on one module and the real agent (run under ThreadSanitizer by
// the test command): signers with their own sessions, object finders, slot
// pollers, and one thread unplugging and plugging the token. Workers record
// what they saw (no Catch assertions off the main thread); every return code
// must be one a removal explains, and every signer must sign while plugged.
TEST_CASE("vtokend: many threads sign, find and poll while the token is unplugged and plugged") {
  WithVtokend t;
  REQUIRE(t.available);
  CK_FUNCTION_LIST* f = t.f;
  const CK_SLOT_ID slot = t.FreeSlot();
  CK_UTF8CHAR so_pin[] = "87654321";
  CK_UTF8CHAR pin[] = "1234";
  auto label = Label("threads");
  REQUIRE(f->C_InitToken(slot, so_pin, 8, label.data()) == CKR_OK);
  CK_SESSION_HANDLE admin;
  REQUIRE(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &admin) == CKR_OK);
  REQUIRE(f->C_Login(admin, CKU_SO, so_pin, 8) == CKR_OK);
  REQUIRE(f->C_InitPIN(admin, pin, 4) == CKR_OK);
  REQUIRE(f->C_Logout(admin) == CKR_OK);
  REQUIRE(f->C_Login(admin, CKU_USER, pin, 4) == CKR_OK);
  CK_BBOOL yes = CK_TRUE;
  CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  CK_BYTE id[] = {7};
  CK_MECHANISM ec_gen{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_ATTRIBUTE pub_t[] = {{CKA_TOKEN, &yes, 1}, {CKA_EC_PARAMS, p256, sizeof p256}, {CKA_VERIFY, &yes, 1}, {CKA_ID, id, 1}};
  CK_ATTRIBUTE priv_t[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SIGN, &yes, 1}, {CKA_ID, id, 1}};
  CK_OBJECT_HANDLE pub, priv;
  REQUIRE(f->C_GenerateKeyPair(admin, &ec_gen, pub_t, 4, priv_t, 4, &pub, &priv) == CKR_OK);
  std::string name;
  auto status = AgentRequest(t.sandbox->socket(), {{"op", "slots"}});
  for (const auto& s : status.value("slots", wire::Json::array()))
    if (s.value("slot_id", CK_SLOT_ID{0}) == slot) name = s.value("name", "");
  REQUIRE_FALSE(name.empty());

  // What a removal may answer on the way (session killed, login and handles dropped, token absent).
  auto explained = [](CK_RV rv) {
    return rv == CKR_OK || rv == CKR_DEVICE_REMOVED || rv == CKR_SESSION_HANDLE_INVALID ||
           rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_USER_NOT_LOGGED_IN || rv == CKR_KEY_HANDLE_INVALID ||
           rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_USER_ALREADY_LOGGED_IN;
  };
  std::atomic<bool> stop{false};
  std::atomic<int> total_signed{0};
  std::mutex seen_mutex;
  std::vector<CK_RV> unexplained;
  auto note = [&](CK_RV rv) {
    if (explained(rv)) return;
    std::lock_guard lock(seen_mutex);
    unexplained.push_back(rv);
  };
  // One key handle for the private key of this test, found through the session.
  auto find_key = [&](CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_OBJECT_HANDLE& key) {
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, id, 1}};
    CK_RV rv = f->C_FindObjectsInit(s, tmpl, 2);
    if (rv != CKR_OK) return rv;
    CK_ULONG found = 0;
    rv = f->C_FindObjects(s, &key, 1, &found);
    const CK_RV final_rv = f->C_FindObjectsFinal(s);
    if (rv == CKR_OK) rv = final_rv;
    return rv == CKR_OK && found != 1 ? CKR_OBJECT_HANDLE_INVALID : rv;
  };

  constexpr int kSigners = 4;
  std::vector<int> signed_by(kSigners, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSigners; ++i)
    threads.emplace_back([&, i] {
      const Bytes hash(32, static_cast<CK_BYTE>(i));
      CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
      CK_OBJECT_HANDLE key = CK_INVALID_HANDLE, verify_key = CK_INVALID_HANDLE;
      while (!stop.load()) {
        CK_RV rv = CKR_OK;
        if (s == CK_INVALID_HANDLE) {
          rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
          if (rv != CKR_OK) s = CK_INVALID_HANDLE;
          if (rv == CKR_OK) rv = f->C_Login(s, CKU_USER, pin, 4);
          if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) rv = find_key(s, CKO_PRIVATE_KEY, key);
          if (rv == CKR_OK) rv = find_key(s, CKO_PUBLIC_KEY, verify_key);
        }
        if (rv == CKR_OK) {
          CK_MECHANISM m{CKM_ECDSA, nullptr, 0};
          rv = f->C_SignInit(s, &m, key);
          Bytes sig(64);
          CK_ULONG len = sig.size();
          if (rv == CKR_OK) rv = f->C_Sign(s, const_cast<CK_BYTE*>(hash.data()), hash.size(), sig.data(), &len);
          if (rv == CKR_OK) rv = f->C_VerifyInit(s, &m, verify_key);
          if (rv == CKR_OK) {
            // CKR_SIGNATURE_INVALID is never explained by a removal.
            rv = f->C_Verify(s, const_cast<CK_BYTE*>(hash.data()), hash.size(), sig.data(), len);
            if (rv == CKR_OK) {
              ++signed_by[i];
              ++total_signed;
            }
          }
        }
        note(rv);
        if (rv != CKR_OK && s != CK_INVALID_HANDLE) {
          f->C_CloseSession(s);  // start over: the token may be gone or back
          s = CK_INVALID_HANDLE;
        }
        if (rv != CKR_OK) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      if (s != CK_INVALID_HANDLE) f->C_CloseSession(s);
    });
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      while (!stop.load()) {
        CK_SESSION_HANDLE s;
        CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
        if (rv == CKR_OK) {
          CK_OBJECT_HANDLE key;
          rv = find_key(s, CKO_PUBLIC_KEY, key);  // public: found without a login
          CK_BYTE point[128];
          CK_ATTRIBUTE a{CKA_EC_POINT, point, sizeof point};
          if (rv == CKR_OK) rv = f->C_GetAttributeValue(s, key, &a, 1);
          const CK_RV closed = f->C_CloseSession(s);
          note(rv != CKR_OK ? rv : closed);
        } else {
          note(rv);
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      }
    });
  threads.emplace_back([&] {
    while (!stop.load()) {
      CK_SLOT_INFO si;
      CK_TOKEN_INFO ti;
      CK_RV rv = f->C_GetSlotInfo(slot, &si);
      if (rv == CKR_OK && (si.flags & CKF_TOKEN_PRESENT)) {
        rv = f->C_GetTokenInfo(slot, &ti);
      }
      note(rv);
      CK_ULONG count = 0;
      note(f->C_GetSlotList(CK_TRUE, nullptr, &count));
    }
  });

  // The main thread unplugs and plugs, each time after the signers made
  // progress (bounded waits: a stuck module fails the checks below, it does not hang).
  auto wait_for_signatures = [&](int more) {
    const int target = total_signed.load() + more;
    for (int i = 0; i < 3000 && total_signed.load() < target; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return total_signed.load() >= target;
  };
  int cycles_with_progress = 0;
  for (int cycle = 0; cycle < 3; ++cycle) {
    if (wait_for_signatures(kSigners)) ++cycles_with_progress;
    CHECK(AgentRequest(t.sandbox->socket(), {{"op", "token_unplug"}, {"name", name}}).value("ok", false));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(AgentRequest(t.sandbox->socket(), {{"op", "token_plug"}, {"name", name}}).value("ok", false));
  }
  const bool signs_after_last_plug = wait_for_signatures(kSigners);
  stop = true;
  for (auto& th : threads) th.join();

  CHECK(cycles_with_progress == 3);
  CHECK(signs_after_last_plug);
  for (int i = 0; i < kSigners; ++i) {
    INFO("signer " << i);
    CHECK(signed_by[i] > 0);
  }
  std::lock_guard lock(seen_mutex);
  INFO("first unexplained CK_RV: 0x" << std::hex << (unexplained.empty() ? 0 : unexplained.front()));
  CHECK(unexplained.empty());
}
