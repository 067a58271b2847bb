// End-to-end through dlopen against the in-process fake agent (fake_agent.h):
// slots, sessions and login rules, objects, every signing mechanism with local
// verification, digests, decryption, key generation, context-specific login,
// token removal, a crashing agent, parallel signing on lanes and without
// them, and a forked child's connections.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include "fake_agent.h"
#include "module_fixture.h"
#include "pkcs11/crypto.h"

using namespace vtoken;
using namespace vtoken::pkcs11;
using namespace vtoken::pkcs11::test;
using Bytes = std::vector<CK_BYTE>;

namespace {

CK_UTF8CHAR kPin[] = {'1', '2', '3', '4'};
CK_UTF8CHAR kSoPin[] = {'1', '2', '3', '4', '5', '6', '7', '8'};

struct WithFakeAgent {
  Sandbox sandbox{NoAutostartConfig()};
  FakeAgent agent{sandbox.socket()};
  CK_FUNCTION_LIST* f = P11();

  WithFakeAgent() { REQUIRE(f->C_Initialize(nullptr) == CKR_OK); }
  ~WithFakeAgent() { f->C_Finalize(nullptr); }

  CK_SESSION_HANDLE Open(bool rw = true, CK_SLOT_ID slot = 1) {
    CK_SESSION_HANDLE h = 0;
    REQUIRE(f->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0), nullptr, nullptr, &h) == CKR_OK);
    return h;
  }
  CK_SESSION_HANDLE OpenLoggedIn() {
    CK_SESSION_HANDLE h = Open();
    REQUIRE(f->C_Login(h, CKU_USER, kPin, sizeof kPin) == CKR_OK);
    return h;
  }
  std::vector<CK_OBJECT_HANDLE> Find(CK_SESSION_HANDLE h, std::vector<CK_ATTRIBUTE> tmpl) {
    REQUIRE(f->C_FindObjectsInit(h, tmpl.data(), tmpl.size()) == CKR_OK);
    std::vector<CK_OBJECT_HANDLE> out(64);
    CK_ULONG n = 0;
    REQUIRE(f->C_FindObjects(h, out.data(), out.size(), &n) == CKR_OK);
    REQUIRE(f->C_FindObjectsFinal(h) == CKR_OK);
    out.resize(n);
    return out;
  }
  CK_OBJECT_HANDLE Key(CK_SESSION_HANDLE h, CK_OBJECT_CLASS cls, CK_KEY_TYPE type) {
    std::vector<CK_ATTRIBUTE> t{{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}};
    auto found = Find(h, t);
    REQUIRE(!found.empty());
    return found[0];
  }
  CK_STATE State(CK_SESSION_HANDLE h) {
    CK_SESSION_INFO info{};
    REQUIRE(f->C_GetSessionInfo(h, &info) == CKR_OK);
    return info.state;
  }
  Bytes Sign(CK_SESSION_HANDLE h, CK_MECHANISM m, CK_OBJECT_HANDLE key, const Bytes& data) {
    REQUIRE(f->C_SignInit(h, &m, key) == CKR_OK);
    CK_ULONG len = 0;
    REQUIRE(f->C_Sign(h, const_cast<CK_BYTE*>(data.data()), data.size(), nullptr, &len) == CKR_OK);
    Bytes sig(len);
    if (len > 1) {  // too small: the needed length comes back and the operation goes on
      CK_ULONG small = len - 1;
      REQUIRE(f->C_Sign(h, const_cast<CK_BYTE*>(data.data()), data.size(), sig.data(), &small) == CKR_BUFFER_TOO_SMALL);
      REQUIRE(small == len);
    }
    REQUIRE(f->C_Sign(h, const_cast<CK_BYTE*>(data.data()), data.size(), sig.data(), &len) == CKR_OK);
    sig.resize(len);
    return sig;
  }
  CK_RV Verify(CK_SESSION_HANDLE h, CK_MECHANISM m, CK_OBJECT_HANDLE key, const Bytes& data, Bytes sig) {
    REQUIRE(f->C_VerifyInit(h, &m, key) == CKR_OK);
    return f->C_Verify(h, const_cast<CK_BYTE*>(data.data()), data.size(), sig.data(), sig.size());
  }
};

}  // namespace

TEST_CASE("fake agent: slots and tokens from the snapshot") {
  WithFakeAgent t;
  CK_ULONG n = 0;
  REQUIRE(t.f->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_OK);
  REQUIRE(n == 2);
  CK_SLOT_ID ids[2];
  CK_ULONG small = 1;
  CHECK(t.f->C_GetSlotList(CK_FALSE, ids, &small) == CKR_BUFFER_TOO_SMALL);
  CHECK(small == 2);
  REQUIRE(t.f->C_GetSlotList(CK_TRUE, ids, &n) == CKR_OK);
  CHECK(ids[0] == 1);
  CHECK(ids[1] == 2);
  CK_SLOT_INFO si;
  REQUIRE(t.f->C_GetSlotInfo(1, &si) == CKR_OK);
  CHECK(si.flags == (CKF_TOKEN_PRESENT | CKF_REMOVABLE_DEVICE | CKF_HW_SLOT));
  CHECK(Unpad(si.slotDescription, 64) == "fake emulated slot");
  CHECK(t.f->C_GetSlotInfo(99, &si) == CKR_SLOT_ID_INVALID);
  CK_TOKEN_INFO ti;
  REQUIRE(t.f->C_GetTokenInfo(1, &ti) == CKR_OK);
  CHECK(Unpad(ti.label, 32) == "fake");
  CHECK(Unpad(ti.serialNumber, 16) == "serial1");
  CHECK((ti.flags & CKF_TOKEN_INITIALIZED) != 0);
  CHECK(ti.ulSessionCount == 0);
  auto h = t.Open(false);
  REQUIRE(t.f->C_GetTokenInfo(1, &ti) == CKR_OK);
  CHECK(ti.ulSessionCount == 1);
  CHECK(ti.ulRwSessionCount == 0);
  CK_SESSION_HANDLE h2;
  CHECK(t.f->C_OpenSession(2, CKF_SERIAL_SESSION, nullptr, nullptr, &h2) == CKR_TOKEN_NOT_RECOGNIZED);
  CHECK(t.f->C_OpenSession(9, CKF_SERIAL_SESSION, nullptr, nullptr, &h2) == CKR_SLOT_ID_INVALID);
  CK_ULONG mechs = 0;
  REQUIRE(t.f->C_GetMechanismList(1, nullptr, &mechs) == CKR_OK);
  CHECK(mechs > 20);
  CHECK(t.f->C_GetMechanismList(9, nullptr, &mechs) == CKR_SLOT_ID_INVALID);
  CHECK(t.f->C_CloseSession(h) == CKR_OK);
  CHECK(t.f->C_CloseSession(h) == CKR_SESSION_HANDLE_INVALID);
}

// (Its cost in ns is measured by bench/, not asserted here.)
TEST_CASE("fake agent: slot and token info answer from memory, with no round trip") {
  WithFakeAgent t;
  CK_SLOT_INFO si;
  CK_TOKEN_INFO ti;
  REQUIRE(t.f->C_GetSlotInfo(1, &si) == CKR_OK);
  const int requests_before = t.agent.Count("slots");
  for (int i = 0; i < 10000; ++i) {
    REQUIRE(t.f->C_GetSlotInfo(1, &si) == CKR_OK);
    REQUIRE(t.f->C_GetTokenInfo(1, &ti) == CKR_OK);
  }
  CHECK(t.agent.Count("slots") == requests_before);
}

TEST_CASE("fake agent: session states and login rules") {
  WithFakeAgent t;
  auto ro = t.Open(false);
  auto rw = t.Open(true);
  CHECK(t.State(ro) == CKS_RO_PUBLIC_SESSION);
  CHECK(t.State(rw) == CKS_RW_PUBLIC_SESSION);
  CK_UTF8CHAR wrong[] = {'0', '0', '0', '0'};
  CHECK(t.f->C_Login(rw, CKU_USER, wrong, sizeof wrong) == CKR_PIN_INCORRECT);
  CHECK(t.f->C_Login(rw, CKU_USER, nullptr, 4) == CKR_ARGUMENTS_BAD);
  CHECK(t.f->C_Login(rw, CKU_USER, nullptr, 0) == CKR_ARGUMENTS_BAD);  // no protected authentication path
  CHECK(t.f->C_Login(rw, 7, kPin, sizeof kPin) == CKR_USER_TYPE_INVALID);
  CHECK(t.f->C_Logout(rw) == CKR_USER_NOT_LOGGED_IN);
  REQUIRE(t.f->C_Login(rw, CKU_USER, kPin, sizeof kPin) == CKR_OK);
  CHECK(t.State(ro) == CKS_RO_USER_FUNCTIONS);  // login is shared by the application's sessions
  CHECK(t.State(rw) == CKS_RW_USER_FUNCTIONS);
  CHECK(t.f->C_Login(ro, CKU_USER, kPin, sizeof kPin) == CKR_USER_ALREADY_LOGGED_IN);
  CHECK(t.f->C_Login(ro, CKU_SO, kSoPin, sizeof kSoPin) == CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
  CHECK(t.f->C_InitPIN(rw, kPin, sizeof kPin) == CKR_USER_NOT_LOGGED_IN);
  CHECK(t.f->C_SetPIN(ro, kPin, sizeof kPin, kPin, sizeof kPin) == CKR_SESSION_READ_ONLY);
  CHECK(t.f->C_SetPIN(rw, kPin, sizeof kPin, kPin, sizeof kPin) == CKR_OK);
  REQUIRE(t.f->C_Logout(rw) == CKR_OK);
  CHECK(t.State(ro) == CKS_RO_PUBLIC_SESSION);
  CHECK(t.f->C_Login(rw, CKU_SO, kSoPin, sizeof kSoPin) == CKR_SESSION_READ_ONLY_EXISTS);
  REQUIRE(t.f->C_CloseSession(ro) == CKR_OK);
  REQUIRE(t.f->C_Login(rw, CKU_SO, kSoPin, sizeof kSoPin) == CKR_OK);
  CHECK(t.State(rw) == CKS_RW_SO_FUNCTIONS);
  CK_SESSION_HANDLE h;
  CHECK(t.f->C_OpenSession(1, CKF_SERIAL_SESSION, nullptr, nullptr, &h) == CKR_SESSION_READ_WRITE_SO_EXISTS);
  CHECK(t.f->C_InitPIN(rw, kPin, sizeof kPin) == CKR_OK);
  CHECK(t.f->C_InitToken(1, kSoPin, sizeof kSoPin, kPin) == CKR_SESSION_EXISTS);
  const int logouts = t.agent.Count("logout");
  REQUIRE(t.f->C_CloseSession(rw) == CKR_OK);  // the last session: the login ends
  CHECK(t.agent.Count("logout") == logouts + 1);
  auto again = t.Open();
  CHECK(t.State(again) == CKS_RW_PUBLIC_SESSION);
  CHECK(t.f->C_CloseAllSessions(1) == CKR_OK);
  CHECK(t.f->C_GetSessionInfo(again, nullptr) == CKR_SESSION_HANDLE_INVALID);
}

TEST_CASE("fake agent: objects, visibility and attribute reads") {
  WithFakeAgent t;
  auto h = t.Open(false);
  CHECK(t.Find(h, {}).size() == 2);  // public keys only
  CHECK(t.f->C_FindObjects(h, nullptr, 0, nullptr) == CKR_ARGUMENTS_BAD);
  CK_OBJECT_HANDLE found[4];
  CK_ULONG n;
  CHECK(t.f->C_FindObjects(h, found, 4, &n) == CKR_OPERATION_NOT_INITIALIZED);
  REQUIRE(t.f->C_Login(h, CKU_USER, kPin, sizeof kPin) == CKR_OK);
  CHECK(t.Find(h, {}).size() == 4);
  REQUIRE(t.f->C_FindObjectsInit(h, nullptr, 0) == CKR_OK);
  CHECK(t.f->C_FindObjectsInit(h, nullptr, 0) == CKR_OPERATION_ACTIVE);
  REQUIRE(t.f->C_FindObjects(h, found, 3, &n) == CKR_OK);
  CHECK(n == 3);
  REQUIRE(t.f->C_FindObjects(h, found, 3, &n) == CKR_OK);
  CHECK(n == 1);
  REQUIRE(t.f->C_FindObjectsFinal(h) == CKR_OK);
  CHECK(t.f->C_FindObjectsFinal(h) == CKR_OPERATION_NOT_INITIALIZED);

  const auto priv = t.Key(h, CKO_PRIVATE_KEY, CKK_RSA);
  CK_BYTE modulus[512];
  CK_BYTE exponent[8];
  CK_ATTRIBUTE read[] = {{CKA_MODULUS, modulus, sizeof modulus},
                         {CKA_PRIVATE_EXPONENT, nullptr, 0},
                         {CKA_PUBLIC_EXPONENT, exponent, sizeof exponent}};
  CHECK(t.f->C_GetAttributeValue(h, priv, read, 3) == CKR_ATTRIBUTE_SENSITIVE);
  CHECK(read[0].ulValueLen == 256);
  CHECK(read[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
  CHECK(read[2].ulValueLen == 3);
  CHECK(t.f->C_GetAttributeValue(h, 0xdead, read, 1) == CKR_OBJECT_HANDLE_INVALID);
  CK_ULONG size = 0;
  CHECK(t.f->C_GetObjectSize(h, priv, &size) == CKR_OK);
  CHECK(size > 256);

  CK_OBJECT_CLASS data_class = CKO_DATA;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  char label[] = "note";
  CK_ATTRIBUTE token_obj[] = {{CKA_CLASS, &data_class, sizeof data_class}, {CKA_TOKEN, &yes, 1}};
  CK_OBJECT_HANDLE obj;
  CHECK(t.f->C_CreateObject(h, token_obj, 2, &obj) == CKR_SESSION_READ_ONLY);
  CK_ATTRIBUTE session_obj[] = {{CKA_CLASS, &data_class, sizeof data_class}, {CKA_TOKEN, &no, 1}, {CKA_LABEL, label, 4}};
  REQUIRE(t.f->C_CreateObject(h, session_obj, 3, &obj) == CKR_OK);
  char got[8];
  CK_ATTRIBUTE read_label[] = {{CKA_LABEL, got, sizeof got}};
  REQUIRE(t.f->C_GetAttributeValue(h, obj, read_label, 1) == CKR_OK);
  CHECK(std::string(got, read_label[0].ulValueLen) == "note");
  char other[] = "memo";
  CK_ATTRIBUTE set_label[] = {{CKA_LABEL, other, 4}};
  REQUIRE(t.f->C_SetAttributeValue(h, obj, set_label, 1) == CKR_OK);
  REQUIRE(t.f->C_GetAttributeValue(h, obj, read_label, 1) == CKR_OK);
  CHECK(std::string(got, 4) == "memo");
  CHECK(t.f->C_DestroyObject(h, priv) == CKR_SESSION_READ_ONLY);
  REQUIRE(t.f->C_DestroyObject(h, obj) == CKR_OK);
  CHECK(t.f->C_GetAttributeValue(h, obj, read_label, 1) == CKR_OBJECT_HANDLE_INVALID);

  REQUIRE(t.f->C_Logout(h) == CKR_OK);
  CHECK(t.Find(h, {}).size() == 2);
  CHECK(t.f->C_GetAttributeValue(h, priv, read, 1) == CKR_OBJECT_HANDLE_INVALID);  // private handles die on logout
}

TEST_CASE("fake agent: every signing mechanism, verified locally") {
  WithFakeAgent t;
  auto h = t.OpenLoggedIn();
  const auto rsa_priv = t.Key(h, CKO_PRIVATE_KEY, CKK_RSA);
  const auto rsa_pub = t.Key(h, CKO_PUBLIC_KEY, CKK_RSA);
  const auto ec_priv = t.Key(h, CKO_PRIVATE_KEY, CKK_EC);
  const auto ec_pub = t.Key(h, CKO_PUBLIC_KEY, CKK_EC);
  const Bytes data(1000, 'x');

  struct Case {
    CK_MECHANISM_TYPE mech;
    CK_MECHANISM_TYPE hash;
    bool rsa;
  };
  const Case hashing[] = {
      {CKM_SHA1_RSA_PKCS, CKM_SHA_1, true},        {CKM_SHA224_RSA_PKCS, CKM_SHA224, true},
      {CKM_SHA256_RSA_PKCS, CKM_SHA256, true},     {CKM_SHA384_RSA_PKCS, CKM_SHA384, true},
      {CKM_SHA512_RSA_PKCS, CKM_SHA512, true},     {CKM_SHA1_RSA_PKCS_PSS, CKM_SHA_1, true},
      {CKM_SHA224_RSA_PKCS_PSS, CKM_SHA224, true}, {CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, true},
      {CKM_SHA384_RSA_PKCS_PSS, CKM_SHA384, true}, {CKM_SHA512_RSA_PKCS_PSS, CKM_SHA512, true},
      {CKM_ECDSA_SHA1, CKM_SHA_1, false},          {CKM_ECDSA_SHA224, CKM_SHA224, false},
      {CKM_ECDSA_SHA256, CKM_SHA256, false},       {CKM_ECDSA_SHA384, CKM_SHA384, false},
      {CKM_ECDSA_SHA512, CKM_SHA512, false},
  };
  for (const auto& c : hashing) {
    INFO("mechanism " << std::hex << c.mech);
    CK_RSA_PKCS_PSS_PARAMS pss{c.hash, MgfFor(c.hash), DigestLength(c.hash)};
    const bool is_pss = c.mech == CKM_SHA1_RSA_PKCS_PSS || (c.mech >= CKM_SHA256_RSA_PKCS_PSS && c.mech <= CKM_SHA512_RSA_PKCS_PSS) ||
                        c.mech == CKM_SHA224_RSA_PKCS_PSS;
    CK_MECHANISM m{c.mech, is_pss ? &pss : nullptr, is_pss ? sizeof pss : 0};
    const auto priv = c.rsa ? rsa_priv : ec_priv;
    const auto pub = c.rsa ? rsa_pub : ec_pub;
    Bytes sig = t.Sign(h, m, priv, data);
    CHECK(sig.size() == (c.rsa ? 256u : 64u));
    CHECK(t.Verify(h, m, pub, data, sig) == CKR_OK);
    CHECK(t.Verify(h, m, priv, data, sig) == CKR_OK);  // a private key handle verifies too
    Bytes bad = sig;
    bad[bad.size() / 2] ^= 1;
    CHECK(t.Verify(h, m, pub, data, bad) == CKR_SIGNATURE_INVALID);
    CHECK(t.Verify(h, m, pub, data, Bytes(sig.begin(), sig.end() - 1)) == CKR_SIGNATURE_LEN_RANGE);

    // Multi-part gives the same result.
    REQUIRE(t.f->C_SignInit(h, &m, priv) == CKR_OK);
    REQUIRE(t.f->C_SignUpdate(h, const_cast<CK_BYTE*>(data.data()), 300) == CKR_OK);
    REQUIRE(t.f->C_SignUpdate(h, const_cast<CK_BYTE*>(data.data()) + 300, 700) == CKR_OK);
    CHECK(t.f->C_Sign(h, const_cast<CK_BYTE*>(data.data()), 1, nullptr, nullptr) == CKR_OPERATION_ACTIVE);
    CK_ULONG len = 0;
    REQUIRE(t.f->C_SignFinal(h, nullptr, &len) == CKR_OK);
    Bytes multi(len);
    REQUIRE(t.f->C_SignFinal(h, multi.data(), &len) == CKR_OK);
    CHECK(t.Verify(h, m, pub, data, multi) == CKR_OK);
    REQUIRE(t.f->C_VerifyInit(h, &m, pub) == CKR_OK);
    REQUIRE(t.f->C_VerifyUpdate(h, const_cast<CK_BYTE*>(data.data()), 1000) == CKR_OK);
    CHECK(t.f->C_VerifyFinal(h, multi.data(), multi.size()) == CKR_OK);
  }

  SECTION("raw mechanisms over a hash") {
    Bytes digest = Hash(CKM_SHA256, data);
    Bytes info = DigestInfo(CKM_SHA256, digest);
    CK_MECHANISM pkcs{CKM_RSA_PKCS, nullptr, 0};
    Bytes sig = t.Sign(h, pkcs, rsa_priv, info);
    CHECK(t.Verify(h, pkcs, rsa_pub, info, sig) == CKR_OK);
    CK_MECHANISM sha256{CKM_SHA256_RSA_PKCS, nullptr, 0};
    CHECK(t.Verify(h, sha256, rsa_pub, data, sig) == CKR_OK);  // identical to the hashing mechanism

    CK_RSA_PKCS_PSS_PARAMS pss{CKM_SHA256, CKG_MGF1_SHA256, 32};
    CK_MECHANISM raw_pss{CKM_RSA_PKCS_PSS, &pss, sizeof pss};
    sig = t.Sign(h, raw_pss, rsa_priv, digest);
    CHECK(t.Verify(h, raw_pss, rsa_pub, digest, sig) == CKR_OK);
    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    sig = t.Sign(h, ecdsa, ec_priv, digest);
    CHECK(sig.size() == 64);
    CHECK(t.Verify(h, ecdsa, ec_pub, digest, sig) == CKR_OK);

    // Raw RSA_PKCS in parts (buffered).
    REQUIRE(t.f->C_SignInit(h, &pkcs, rsa_priv) == CKR_OK);
    REQUIRE(t.f->C_SignUpdate(h, info.data(), 10) == CKR_OK);
    REQUIRE(t.f->C_SignUpdate(h, info.data() + 10, info.size() - 10) == CKR_OK);
    CK_ULONG len = 256;
    Bytes parts(len);
    REQUIRE(t.f->C_SignFinal(h, parts.data(), &len) == CKR_OK);
    CHECK(t.Verify(h, pkcs, rsa_pub, info, parts) == CKR_OK);

    // PSS input must be a hash of the right size; the error ends the operation.
    REQUIRE(t.f->C_SignInit(h, &raw_pss, rsa_priv) == CKR_OK);
    len = 256;
    CHECK(t.f->C_Sign(h, info.data(), info.size(), parts.data(), &len) == CKR_DATA_LEN_RANGE);
    CHECK(t.f->C_Sign(h, digest.data() , 32, parts.data(), &len) == CKR_OPERATION_NOT_INITIALIZED);
  }

  SECTION("C_SignInit checks") {
    CK_MECHANISM ecdsa{CKM_ECDSA_SHA256, nullptr, 0};
    CHECK(t.f->C_SignInit(h, &ecdsa, rsa_priv) == CKR_KEY_TYPE_INCONSISTENT);
    CHECK(t.f->C_SignInit(h, &ecdsa, ec_pub) == CKR_KEY_TYPE_INCONSISTENT);
    CHECK(t.f->C_SignInit(h, &ecdsa, 0xbad) == CKR_KEY_HANDLE_INVALID);
    CHECK(t.f->C_SignInit(h, nullptr, ec_priv) == CKR_ARGUMENTS_BAD);
    CK_MECHANISM md5{CKM_MD5_RSA_PKCS, nullptr, 0};
    CHECK(t.f->C_SignInit(h, &md5, rsa_priv) == CKR_MECHANISM_INVALID);
    CK_RSA_PKCS_PSS_PARAMS mismatch{CKM_SHA384, CKG_MGF1_SHA384, 48};
    CK_MECHANISM pss{CKM_SHA256_RSA_PKCS_PSS, &mismatch, sizeof mismatch};
    CHECK(t.f->C_SignInit(h, &pss, rsa_priv) == CKR_MECHANISM_PARAM_INVALID);
    pss.ulParameterLen = 3;
    CHECK(t.f->C_SignInit(h, &pss, rsa_priv) == CKR_MECHANISM_PARAM_INVALID);
    CK_ULONG extra = 0;
    CK_MECHANISM with_param{CKM_SHA256_RSA_PKCS, &extra, sizeof extra};
    CHECK(t.f->C_SignInit(h, &with_param, rsa_priv) == CKR_MECHANISM_PARAM_INVALID);
    CK_BYTE buf[8];
    CK_ULONG len = sizeof buf;
    CHECK(t.f->C_Sign(h, buf, 1, buf, &len) == CKR_OPERATION_NOT_INITIALIZED);
    CHECK(t.f->C_SignFinal(h, buf, &len) == CKR_OPERATION_NOT_INITIALIZED);
    REQUIRE(t.f->C_SignInit(h, &ecdsa, ec_priv) == CKR_OK);
    CHECK(t.f->C_SignInit(h, &ecdsa, ec_priv) == CKR_OPERATION_ACTIVE);
    CHECK(t.f->C_DigestInit(h, &ecdsa) == CKR_MECHANISM_INVALID);
    CHECK(t.f->C_Sign(h, buf, 1, buf, &len) == CKR_BUFFER_TOO_SMALL);
    CHECK(len == 64);
    REQUIRE(t.f->C_Logout(h) == CKR_OK);
    CHECK(t.f->C_SignInit(h, &ecdsa, ec_priv) != CKR_OK);
  }
}

TEST_CASE("fake agent: digests are local") {
  WithFakeAgent t;
  auto h = t.Open(false);
  CK_MECHANISM m{CKM_SHA256, nullptr, 0};
  CK_BYTE abc[] = {'a', 'b', 'c'};
  const Bytes expected = Hash(CKM_SHA256, Bytes(abc, abc + 3));
  REQUIRE(t.f->C_DigestInit(h, &m) == CKR_OK);
  CK_ULONG len = 0;
  REQUIRE(t.f->C_Digest(h, abc, 3, nullptr, &len) == CKR_OK);
  CHECK(len == 32);
  Bytes out(32);
  len = 31;
  CHECK(t.f->C_Digest(h, abc, 3, out.data(), &len) == CKR_BUFFER_TOO_SMALL);
  len = 32;
  REQUIRE(t.f->C_Digest(h, abc, 3, out.data(), &len) == CKR_OK);
  CHECK(out == expected);
  REQUIRE(t.f->C_DigestInit(h, &m) == CKR_OK);
  REQUIRE(t.f->C_DigestUpdate(h, abc, 1) == CKR_OK);
  REQUIRE(t.f->C_DigestUpdate(h, abc + 1, 2) == CKR_OK);
  REQUIRE(t.f->C_DigestFinal(h, out.data(), &len) == CKR_OK);
  CHECK(out == expected);
  CHECK(t.f->C_DigestFinal(h, out.data(), &len) == CKR_OPERATION_NOT_INITIALIZED);
  CHECK(t.agent.Count("sign") == 0);
}

TEST_CASE("fake agent: RSA decryption, PKCS#1 v1.5 and OAEP") {
  WithFakeAgent t;
  auto h = t.OpenLoggedIn();
  const auto priv = t.Key(h, CKO_PRIVATE_KEY, CKK_RSA);
  const auto pub = t.Key(h, CKO_PUBLIC_KEY, CKK_RSA);
  CK_BYTE n[256], e[8];
  CK_ATTRIBUTE attrs[] = {{CKA_MODULUS, n, sizeof n}, {CKA_PUBLIC_EXPONENT, e, sizeof e}};
  REQUIRE(t.f->C_GetAttributeValue(h, pub, attrs, 2) == CKR_OK);
  Object o;
  o.attrs[CKA_KEY_TYPE] = wire::Bytes(sizeof(CK_ULONG));
  CK_ULONG rsa = CKK_RSA;
  std::memcpy(o.attrs[CKA_KEY_TYPE].data(), &rsa, sizeof rsa);
  o.attrs[CKA_MODULUS] = wire::Bytes(n, n + attrs[0].ulValueLen);
  o.attrs[CKA_PUBLIC_EXPONENT] = wire::Bytes(e, e + attrs[1].ulValueLen);
  auto key = PublicKeyOf(o);
  REQUIRE(key);
  const Bytes secret{'h', 'e', 'l', 'l', 'o'};
  for (bool oaep : {false, true}) {
    ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
    EVP_PKEY_encrypt_init(ctx.get());
    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), oaep ? RSA_PKCS1_OAEP_PADDING : RSA_PKCS1_PADDING);
    if (oaep) {
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256());
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256());
    }
    Bytes cipher(256);
    size_t clen = cipher.size();
    REQUIRE(EVP_PKEY_encrypt(ctx.get(), cipher.data(), &clen, secret.data(), secret.size()) == 1);
    CK_RSA_PKCS_OAEP_PARAMS params{CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, nullptr, 0};
    CK_MECHANISM m{oaep ? CKM_RSA_PKCS_OAEP : CKM_RSA_PKCS, oaep ? &params : nullptr, oaep ? sizeof params : 0};
    REQUIRE(t.f->C_DecryptInit(h, &m, priv) == CKR_OK);
    CK_ULONG len = 0;
    REQUIRE(t.f->C_Decrypt(h, cipher.data(), clen, nullptr, &len) == CKR_OK);
    CHECK(len == 256);
    Bytes plain(2);
    len = 2;
    CHECK(t.f->C_Decrypt(h, cipher.data(), clen, plain.data(), &len) == CKR_BUFFER_TOO_SMALL);
    CHECK(len == 5);
    plain.resize(5);
    REQUIRE(t.f->C_Decrypt(h, cipher.data(), clen, plain.data(), &len) == CKR_OK);
    CHECK(plain == secret);
  }
  CK_MECHANISM m{CKM_RSA_PKCS, nullptr, 0};
  CHECK(t.f->C_DecryptInit(h, &m, pub) == CKR_KEY_TYPE_INCONSISTENT);
}

TEST_CASE("fake agent: key pair generation, then sign and verify with the new keys") {
  WithFakeAgent t;
  auto h = t.OpenLoggedIn();
  CK_MECHANISM ec_gen{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  CK_BYTE p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  CK_BBOOL yes = CK_TRUE;
  CK_BYTE id[] = {0x42};
  CK_ATTRIBUTE pub_t[] = {{CKA_EC_PARAMS, p384, sizeof p384}, {CKA_TOKEN, &yes, 1}};
  CK_ATTRIBUTE priv_t[] = {{CKA_TOKEN, &yes, 1}, {CKA_ID, id, 1}, {CKA_SIGN, &yes, 1}};
  CK_OBJECT_HANDLE pub, priv;
  REQUIRE(t.f->C_GenerateKeyPair(h, &ec_gen, pub_t, 2, priv_t, 3, &pub, &priv) == CKR_OK);
  CK_MECHANISM m{CKM_ECDSA_SHA384, nullptr, 0};
  const Bytes data{1, 2, 3};
  Bytes sig = t.Sign(h, m, priv, data);
  CHECK(sig.size() == 96);
  CHECK(t.Verify(h, m, pub, data, sig) == CKR_OK);
  CK_ULONG rsa_bits = 2048;
  CK_MECHANISM rsa_gen{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  CK_ATTRIBUTE rsa_pub_t[] = {{CKA_MODULUS_BITS, &rsa_bits, sizeof rsa_bits}};
  REQUIRE(t.f->C_GenerateKeyPair(h, &rsa_gen, rsa_pub_t, 1, priv_t, 1, &pub, &priv) == CKR_OK);
  CK_MECHANISM sha{CKM_SHA256_RSA_PKCS, nullptr, 0};
  sig = t.Sign(h, sha, priv, data);
  CHECK(t.Verify(h, sha, pub, data, sig) == CKR_OK);
  CHECK(t.Find(h, {}).size() == 8);  // the objects event refetched the list
  auto ro = t.Open(false);
  CHECK(t.f->C_GenerateKeyPair(ro, &ec_gen, pub_t, 2, priv_t, 3, &pub, &priv) == CKR_SESSION_READ_ONLY);
  CK_MECHANISM bad{CKM_SHA256, nullptr, 0};
  CHECK(t.f->C_GenerateKeyPair(h, &bad, pub_t, 2, priv_t, 3, &pub, &priv) == CKR_MECHANISM_INVALID);
  CHECK(t.f->C_GenerateKeyPair(h, &ec_gen, pub_t, 2, priv_t, 3, nullptr, &priv) == CKR_ARGUMENTS_BAD);
}

TEST_CASE("fake agent: CKA_ALWAYS_AUTHENTICATE needs a context-specific login per signature") {
  WithFakeAgent t;
  t.agent.always_authenticate = true;
  auto h = t.OpenLoggedIn();
  const auto priv = t.Key(h, CKO_PRIVATE_KEY, CKK_EC);
  CK_MECHANISM m{CKM_ECDSA_SHA256, nullptr, 0};
  CK_BYTE data[] = {1, 2, 3};
  CK_BYTE sig[64];
  CK_ULONG len = sizeof sig;
  CHECK(t.f->C_Login(h, CKU_CONTEXT_SPECIFIC, kPin, sizeof kPin) == CKR_OPERATION_NOT_INITIALIZED);
  REQUIRE(t.f->C_SignInit(h, &m, priv) == CKR_OK);
  CHECK(t.f->C_Sign(h, data, 3, sig, &len) == CKR_USER_NOT_LOGGED_IN);
  CHECK(t.f->C_Sign(h, data, 3, sig, &len) == CKR_OPERATION_NOT_INITIALIZED);  // the error ended it
  REQUIRE(t.f->C_SignInit(h, &m, priv) == CKR_OK);
  REQUIRE(t.f->C_Login(h, CKU_CONTEXT_SPECIFIC, kPin, sizeof kPin) == CKR_OK);
  CHECK(t.f->C_Sign(h, data, 3, sig, &len) == CKR_OK);
  CHECK(t.agent.Count("sign") == 1);
}

TEST_CASE("fake agent: token removal kills sessions and raises slot events") {
  WithFakeAgent t;
  auto h = t.OpenLoggedIn();
  CK_SLOT_ID slot = 0;
  CHECK(t.f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) == CKR_NO_EVENT);
  auto waiter = std::async(std::launch::async, [&] {
    CK_SLOT_ID s = 0;
    CK_RV rv = t.f->C_WaitForSlotEvent(0, &s, nullptr);
    return std::make_pair(rv, s);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  t.agent.SetPresent(false);
  REQUIRE(waiter.wait_for(std::chrono::seconds(3)) == std::future_status::ready);
  auto [rv, s] = waiter.get();
  CHECK(rv == CKR_OK);
  CHECK(s == 1);
  CK_SESSION_INFO info;
  CHECK(t.f->C_GetSessionInfo(h, &info) == CKR_DEVICE_REMOVED);
  CHECK(t.f->C_GetSessionInfo(h, &info) == CKR_SESSION_HANDLE_INVALID);
  CK_ULONG n = 0;
  REQUIRE(t.f->C_GetSlotList(CK_TRUE, nullptr, &n) == CKR_OK);
  CHECK(n == 1);
  CK_SLOT_INFO si;
  REQUIRE(t.f->C_GetSlotInfo(1, &si) == CKR_OK);
  CHECK_FALSE(si.flags & CKF_TOKEN_PRESENT);
  CK_TOKEN_INFO ti;
  CHECK(t.f->C_GetTokenInfo(1, &ti) == CKR_TOKEN_NOT_PRESENT);
  CK_SESSION_HANDLE h2;
  CHECK(t.f->C_OpenSession(1, CKF_SERIAL_SESSION, nullptr, nullptr, &h2) == CKR_TOKEN_NOT_PRESENT);
  t.agent.SetPresent(true);
  for (int i = 0; i < 100 && t.f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr) != CKR_OK; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(slot == 1);
  auto fresh = t.Open();
  CHECK(t.State(fresh) == CKS_RW_PUBLIC_SESSION);  // the login went with the token
}

TEST_CASE("fake agent: a crashed agent gives errors, not hangs, and the module reconnects") {
  WithFakeAgent t;
  auto h = t.OpenLoggedIn();
  const auto priv = t.Key(h, CKO_PRIVATE_KEY, CKK_EC);
  t.agent.Crash();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A hang would wait out the agent timeout (1 h here), past CTest's timeout.
  CK_MECHANISM m{CKM_ECDSA_SHA256, nullptr, 0};
  CK_RV rv = t.f->C_SignInit(h, &m, priv);
  CHECK((rv == CKR_DEVICE_REMOVED || rv == CKR_KEY_HANDLE_INVALID));
  CK_ULONG n = 0;
  CHECK(t.f->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_DEVICE_ERROR);
  CHECK(t.State(h) == CKS_RW_PUBLIC_SESSION);  // logins belonged to the lost connection
  t.agent.Restart();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // reconnect attempts are rate-limited
  REQUIRE(t.f->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_OK);
  CHECK(n == 2);
  CHECK(t.agent.hellos() == 2);
  REQUIRE(t.f->C_Login(h, CKU_USER, kPin, sizeof kPin) == CKR_OK);  // the same session goes on
  const auto again = t.Key(h, CKO_PRIVATE_KEY, CKK_EC);
  CHECK(again == priv);  // the object kept its handle
  Bytes sig = t.Sign(h, m, again, Bytes{1, 2, 3});
  CHECK(sig.size() == 64);
}

namespace {

// C_SignInit + C_Sign with the EC key on session h.
CK_RV SignOnce(CK_FUNCTION_LIST* f, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE priv) {
  CK_MECHANISM m{CKM_ECDSA_SHA256, nullptr, 0};
  CK_BYTE data[] = {1};
  CK_BYTE sig[64];
  CK_ULONG len = sizeof sig;
  if (CK_RV rv = f->C_SignInit(h, &m, priv); rv != CKR_OK) return rv;
  return f->C_Sign(h, data, 1, sig, &len);
}

// Opens two sessions (the first logged in) and signs on both at once, each
// signature taking the fake agent `delay_ms`; both must succeed.
struct TwoSessions {
  CK_SESSION_HANDLE logged_in, other;
  CK_OBJECT_HANDLE priv;
};
TwoSessions SignOnTwoAtOnce(WithFakeAgent& t, int delay_ms) {
  t.agent.sign_delay_ms = delay_ms;
  TwoSessions s{t.OpenLoggedIn(), t.Open(), 0};
  s.priv = t.Key(s.logged_in, CKO_PRIVATE_KEY, CKK_EC);
  auto a = std::async(std::launch::async, SignOnce, t.f, s.logged_in, s.priv);
  auto b = std::async(std::launch::async, SignOnce, t.f, s.other, s.priv);
  CHECK(a.get() == CKR_OK);
  CHECK(b.get() == CKR_OK);
  t.agent.sign_delay_ms = 0;
  return s;
}

}  // namespace

TEST_CASE("fake agent: two sessions sign in parallel, each on a lane with the application's login") {
  WithFakeAgent t;
  const TwoSessions s = SignOnTwoAtOnce(t, 400);
  CHECK(t.agent.max_parallel_signs() == 2);
  CHECK(t.agent.Count("lane") == 2);  // the login went on the main connection, signatures on two lanes
  CHECK(t.agent.hellos() == 1);
  // Lanes are kept: more signatures open no more of them.
  for (int i = 0; i < 5; ++i) CHECK(SignOnce(t.f, s.logged_in, s.priv) == CKR_OK);
  CHECK(t.agent.Count("lane") == 2);
}

TEST_CASE("fake agent: an agent that offers no lanes: two sessions sign in parallel over the one connection") {
  WithFakeAgent t;
  t.agent.offer_lanes = false;
  t.f->C_Finalize(nullptr);  // C_Initialize connected already: a new hello without lanes
  REQUIRE(t.f->C_Initialize(nullptr) == CKR_OK);
  SignOnTwoAtOnce(t, 400);
  CHECK(t.agent.max_parallel_signs() == 2);
  CHECK(t.agent.Count("lane") == 0);
}

TEST_CASE("fake agent: the agent crashes while signatures wait on lanes: errors at once, then a reconnect") {
  WithFakeAgent t;
  auto h1 = t.OpenLoggedIn();
  auto h2 = t.Open();
  const auto priv = t.Key(h1, CKO_PRIVATE_KEY, CKK_EC);
  t.agent.sign_delay_ms = 3000;
  auto a = std::async(std::launch::async, SignOnce, t.f, h1, priv);
  auto b = std::async(std::launch::async, SignOnce, t.f, h2, priv);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::thread crash([&] { t.agent.Crash(); });  // returns once the fake's delayed signs end
  // The lane's end is the agent's end: the token went with it.
  CHECK(a.get() == CKR_DEVICE_REMOVED);
  CHECK(b.get() == CKR_DEVICE_REMOVED);
  CHECK(t.agent.delays_over() == 0);  // the calls ended with the connection, not with the fake's replies
  CHECK(t.State(h1) == CKS_RW_PUBLIC_SESSION);  // logins belonged to the lost connection
  crash.join();
  t.agent.sign_delay_ms = 0;
  t.agent.Restart();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // reconnect attempts are rate-limited
  CK_ULONG n = 0;
  REQUIRE(t.f->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_OK);
  REQUIRE(t.f->C_Login(h1, CKU_USER, kPin, sizeof kPin) == CKR_OK);
  CHECK(SignOnce(t.f, h1, priv) == CKR_OK);  // on a new lane of the new connection
  CHECK(t.agent.Count("lane") == 3);
}

namespace {

int OpenSockets() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec).string().rfind("socket:", 0) == 0) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("a forked child closes the parent's agent connection and lanes, then makes its own (fake agent)") {
  WithFakeAgent t;
  const TwoSessions s = SignOnTwoAtOnce(t, 200);
  REQUIRE(t.agent.Count("lane") == 2);
  const int parent_sockets = OpenSockets();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int failures = 0;
    // The module's three sockets (main connection, two lanes) are closed;
    // the fake agent's own (its listener and its ends) are inherited as they are.
    if (OpenSockets() != parent_sockets - 3) failures |= 1;
    if (t.f->C_Initialize(nullptr) != CKR_OK) failures |= 2;
    CK_SESSION_HANDLE h = 0;
    if (t.f->C_OpenSession(1, CKF_SERIAL_SESSION, nullptr, nullptr, &h) != CKR_OK) failures |= 4;
    if (t.f->C_Login(h, CKU_USER, kPin, sizeof kPin) != CKR_OK) failures |= 8;
    if (SignOnce(t.f, h, s.priv) != CKR_OK) failures |= 16;
    _exit(failures);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(SignOnce(t.f, s.logged_in, s.priv) == CKR_OK);  // the parent's lanes still work
  CHECK(t.agent.Count("lane") == 3);  // the child's own lane (the parent's fake agent served it)
}

TEST_CASE("fake agent: many threads, each with its own session") {
  WithFakeAgent t;
  auto login = t.OpenLoggedIn();
  const auto priv = t.Key(login, CKO_PRIVATE_KEY, CKK_EC);
  const auto pub = t.Key(login, CKO_PUBLIC_KEY, CKK_EC);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] {
      CK_SESSION_HANDLE h;
      if (t.f->C_OpenSession(1, CKF_SERIAL_SESSION, nullptr, nullptr, &h) != CKR_OK) return (void)++failures;
      for (int j = 0; j < 10; ++j) {
        CK_MECHANISM m{CKM_ECDSA_SHA256, nullptr, 0};
        CK_BYTE data[] = {static_cast<CK_BYTE>(i), static_cast<CK_BYTE>(j)};
        CK_BYTE sig[64];
        CK_ULONG len = sizeof sig;
        if (t.f->C_SignInit(h, &m, priv) != CKR_OK || t.f->C_Sign(h, data, 2, sig, &len) != CKR_OK) ++failures;
        if (t.f->C_VerifyInit(h, &m, pub) != CKR_OK || t.f->C_Verify(h, data, 2, sig, len) != CKR_OK) ++failures;
        CK_SLOT_INFO si;
        CK_TOKEN_INFO ti;
        if (t.f->C_GetSlotInfo(1, &si) != CKR_OK || t.f->C_GetTokenInfo(1, &ti) != CKR_OK) ++failures;
        CK_BYTE random[16];
        if (t.f->C_GenerateRandom(h, random, sizeof random) != CKR_OK) ++failures;
      }
      if (t.f->C_CloseSession(h) != CKR_OK) ++failures;
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
}

TEST_CASE("fake agent: C_InitToken on the free slot") {
  WithFakeAgent t;
  CK_UTF8CHAR label[32];
  std::memset(label, ' ', sizeof label);
  std::memcpy(label, "new", 3);
  CHECK(t.f->C_InitToken(2, nullptr, 0, label) == CKR_ARGUMENTS_BAD);
  REQUIRE(t.f->C_InitToken(2, kSoPin, sizeof kSoPin, label) == CKR_OK);
  CK_TOKEN_INFO ti;
  REQUIRE(t.f->C_GetTokenInfo(2, &ti) == CKR_OK);
  CHECK((ti.flags & CKF_TOKEN_INITIALIZED) != 0);
  CHECK(Unpad(ti.label, 32) == "new");
  CK_ULONG n = 0;
  REQUIRE(t.f->C_GetSlotList(CK_TRUE, nullptr, &n) == CKR_OK);
  CHECK(n == 3);
  auto so = t.Open(true, 2);
  REQUIRE(t.f->C_Login(so, CKU_SO, kSoPin, sizeof kSoPin) == CKR_OK);
  CHECK(t.f->C_InitPIN(so, kPin, sizeof kPin) == CKR_OK);
  CHECK(t.f->C_Login(so, CKU_USER, kPin, sizeof kPin) == CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
}
