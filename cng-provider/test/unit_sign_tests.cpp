// SignHash against the fake agent: what is sent for each padding, size
// queries, PINs and NCRYPT_SILENT_FLAG; and the pure helpers.
#include <catch2/catch.hpp>
#include <p11-kit/pkcs11.h>

#include <cstring>

#include "cng-provider/src/der.h"
#include "cng-provider/src/tcp_transport.h"
#include "cng-provider/test/fake_agent.h"
#include "cng-provider/test/ksp_test_util.h"

using namespace vtoken::ksp;
using namespace vtoken::ksp::test;

namespace {

struct Signer {
  NCRYPT_KEY_STORAGE_FUNCTION_TABLE* t = nullptr;
  NCRYPT_PROV_HANDLE prov = 0;
  NCRYPT_KEY_HANDLE rsa = 0, ec = 0;
  Signer(bool with_pin = true) {
    UseFakeAgent();
    REQUIRE(GetKeyStorageInterface(kProviderName, &t, 0) == 0);
    REQUIRE_NTE(t->OpenProvider(&prov, kProviderName, 0), ERROR_SUCCESS);
    REQUIRE_NTE(t->OpenKey(prov, &rsa, L"vtoken:00fa4e0000000001:01", 0, 0), ERROR_SUCCESS);
    REQUIRE_NTE(t->OpenKey(prov, &ec, L"vtoken:00fa4e0000000001:02", 0, 0), ERROR_SUCCESS);
    if (with_pin) REQUIRE_NTE(t->SetProviderProperty(prov, NCRYPT_PIN_PROPERTY, (PBYTE)L"1234", 10, 0), ERROR_SUCCESS);
  }
  ~Signer() {
    t->FreeKey(prov, rsa);
    t->FreeKey(prov, ec);
    t->FreeProvider(prov);
  }
  SECURITY_STATUS Sign(NCRYPT_KEY_HANDLE k, void* padding, std::vector<BYTE> hash, DWORD flags, std::vector<BYTE>* out = nullptr) {
    std::vector<BYTE> sig(512);
    DWORD n = 0;
    SECURITY_STATUS s = t->SignHash(prov, k, padding, hash.data(), static_cast<DWORD>(hash.size()), sig.data(), 512, &n, flags);
    if (out) out->assign(sig.begin(), sig.begin() + (s == 0 ? n : 0));
    return s;
  }
};

std::vector<BYTE> SentData() {
  const auto& b = Fake().last_sign["data"].get_binary();
  return std::vector<BYTE>(b.begin(), b.end());
}

}  // namespace

TEST_CASE("PKCS#1 v1.5 with a hash OID sends a DigestInfo for CKM_RSA_PKCS") {
  Signer s;
  BCRYPT_PKCS1_PADDING_INFO info{BCRYPT_SHA256_ALGORITHM};
  std::vector<BYTE> sig;
  REQUIRE_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 0x5a), BCRYPT_PAD_PKCS1, &sig), ERROR_SUCCESS);
  CHECK(sig.size() == 256);
  CHECK(Fake().last_sign["mechanism"] == CKM_RSA_PKCS);
  auto data = SentData();
  REQUIRE(data.size() == 19 + 32);
  CHECK(data[0] == 0x30);
  CHECK(data[14] == 0x01);  // id-sha256's last arc
  CHECK(data[18] == 0x20);
  CHECK(data[19] == 0x5a);
  info.pszAlgId = BCRYPT_SHA1_ALGORITHM;
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(20, 1), BCRYPT_PAD_PKCS1), ERROR_SUCCESS);
  CHECK(SentData().size() == 15 + 20);
  info.pszAlgId = BCRYPT_SHA512_ALGORITHM;
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(64, 1), BCRYPT_PAD_PKCS1), ERROR_SUCCESS);
  CHECK(SentData().size() == 19 + 64);
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 1), BCRYPT_PAD_PKCS1), NTE_INVALID_PARAMETER);  // wrong length
  info.pszAlgId = L"SHA3-256";
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 1), BCRYPT_PAD_PKCS1), NTE_NOT_SUPPORTED);
}

TEST_CASE("PKCS#1 v1.5 without a hash OID signs the bytes as given") {
  Signer s;
  BCRYPT_PKCS1_PADDING_INFO info{nullptr};
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(36, 7), BCRYPT_PAD_PKCS1), ERROR_SUCCESS);
  CHECK(SentData() == std::vector<BYTE>(36, 7));
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(256 - 10, 7), BCRYPT_PAD_PKCS1), NTE_INVALID_PARAMETER);
  CHECK_NTE(s.Sign(s.rsa, nullptr, std::vector<BYTE>(36, 7), BCRYPT_PAD_PKCS1), NTE_INVALID_PARAMETER);
}

TEST_CASE("PSS sends the hash with hash, MGF and salt length") {
  Signer s;
  BCRYPT_PSS_PADDING_INFO info{BCRYPT_SHA384_ALGORITHM, 48};
  REQUIRE_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(48, 3), BCRYPT_PAD_PSS), ERROR_SUCCESS);
  CHECK(Fake().last_sign["mechanism"] == CKM_RSA_PKCS_PSS);
  CHECK(SentData() == std::vector<BYTE>(48, 3));
  CHECK(Fake().last_sign["params"]["hash"] == CKM_SHA384);
  CHECK(Fake().last_sign["params"]["mgf"] == CKG_MGF1_SHA384);
  CHECK(Fake().last_sign["params"]["salt_len"] == 48);
  info.cbSalt = 0;
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(48, 3), BCRYPT_PAD_PSS), ERROR_SUCCESS);
  info.cbSalt = 300;
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(48, 3), BCRYPT_PAD_PSS), NTE_INVALID_PARAMETER);
  info = {nullptr, 32};
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 3), BCRYPT_PAD_PSS), NTE_INVALID_PARAMETER);
  info = {BCRYPT_MD5_ALGORITHM, 16};
  CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(16, 3), BCRYPT_PAD_PSS), NTE_NOT_SUPPORTED);
}

TEST_CASE("ECDSA sends the hash for CKM_ECDSA and returns r||s") {
  Signer s;
  std::vector<BYTE> sig;
  REQUIRE_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 9), 0, &sig), ERROR_SUCCESS);
  CHECK(sig.size() == 64);
  CHECK(Fake().last_sign["mechanism"] == CKM_ECDSA);
  CHECK(Fake().last_sign["oid"] == 12);
  BCRYPT_PKCS1_PADDING_INFO info{BCRYPT_SHA256_ALGORITHM};
  CHECK_NTE(s.Sign(s.ec, &info, std::vector<BYTE>(32, 9), BCRYPT_PAD_PKCS1), NTE_BAD_FLAGS);
}

TEST_CASE("bad flags, NULL pointers and small buffers in SignHash") {
  Signer s;
  BCRYPT_PKCS1_PADDING_INFO info{BCRYPT_SHA256_ALGORITHM};
  std::vector<BYTE> hash(32, 1), sig(512);
  DWORD n = 0;
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 32, sig.data(), 512, &n, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 32, sig.data(), 512, &n, BCRYPT_PAD_PKCS1 | BCRYPT_PAD_PSS), NTE_BAD_FLAGS);
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 32, sig.data(), 512, &n, BCRYPT_PAD_PKCS1 | 0x1000), NTE_BAD_FLAGS);
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 32, sig.data(), 512, &n, BCRYPT_PAD_NONE), NTE_NOT_SUPPORTED);
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, nullptr, 32, sig.data(), 512, &n, BCRYPT_PAD_PKCS1), NTE_INVALID_PARAMETER);
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 0, sig.data(), 512, &n, BCRYPT_PAD_PKCS1), NTE_INVALID_PARAMETER);
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 32, sig.data(), 512, nullptr, BCRYPT_PAD_PKCS1), NTE_INVALID_PARAMETER);
  CHECK_NTE(s.t->SignHash(s.prov, 0, &info, hash.data(), 32, sig.data(), 512, &n, BCRYPT_PAD_PKCS1), NTE_INVALID_HANDLE);
  CHECK_NTE(s.t->SignHash(0, s.rsa, &info, hash.data(), 32, sig.data(), 512, &n, BCRYPT_PAD_PKCS1), NTE_INVALID_HANDLE);
  n = 0;
  CHECK_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 32, sig.data(), 255, &n, BCRYPT_PAD_PKCS1), NTE_BUFFER_TOO_SMALL);
  CHECK(n == 256);
  CHECK(Fake().Calls("sign") == 0);
}

TEST_CASE("size queries never reach the agent") {
  Signer s;
  const int before = Fake().Calls("sign") + Fake().Calls("login") + Fake().Calls("objects");
  BCRYPT_PKCS1_PADDING_INFO info{BCRYPT_SHA256_ALGORITHM};
  std::vector<BYTE> hash(32, 1);
  DWORD n = 0;
  REQUIRE_NTE(s.t->SignHash(s.prov, s.rsa, &info, hash.data(), 32, nullptr, 0, &n, BCRYPT_PAD_PKCS1), ERROR_SUCCESS);
  CHECK(n == 256);
  REQUIRE_NTE(s.t->SignHash(s.prov, s.ec, nullptr, hash.data(), 32, nullptr, 0, &n, 0), ERROR_SUCCESS);
  CHECK(n == 64);
  CHECK(Fake().Calls("sign") + Fake().Calls("login") + Fake().Calls("objects") == before);
}

TEST_CASE("PINs: key property, provider property, wrong PIN, silent, prompt") {
  SECTION("no PIN and NCRYPT_SILENT_FLAG: login with no_prompt; the agent would have to ask: NTE_SILENT_CONTEXT") {
    Signer s(false);
    Fake().can_prompt = true;  // it could ask, but must not
    CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), NCRYPT_SILENT_FLAG), NTE_SILENT_CONTEXT);
    CHECK(Fake().Calls("login") == 1);
    CHECK(Fake().last_login["no_prompt"] == true);
    CHECK(Fake().Calls("sign") == 0);
  }
  SECTION("a cloud-like token: silent signing asks the agent with no_prompt; it signs when no person is needed") {
    Signer s(false);
    Fake().cloud = true;
    const std::vector<BYTE> hash(32, 1);
    CHECK_NTE(s.Sign(s.ec, nullptr, hash, NCRYPT_SILENT_FLAG), NTE_SILENT_CONTEXT);  // the code needs a person
    CHECK(Fake().last_sign["no_prompt"] == true);
    CHECK_NTE(s.Sign(s.ec, nullptr, hash, 0), ERROR_SUCCESS);  // not silent: the agent may ask
    CHECK_FALSE(Fake().last_sign.contains("no_prompt"));
    Fake().code_without_person = true;  // a code command, or an open SCAL1 window
    CHECK_NTE(s.Sign(s.ec, nullptr, hash, NCRYPT_SILENT_FLAG), ERROR_SUCCESS);
    CHECK(Fake().last_sign["no_prompt"] == true);
  }
  SECTION("no PIN, agent cannot prompt: NTE_SILENT_CONTEXT after asking") {
    Signer s(false);
    CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), NTE_SILENT_CONTEXT);
    CHECK(Fake().Calls("login") == 1);
  }
  SECTION("no PIN, the agent prompts") {
    Signer s(false);
    Fake().can_prompt = true;
    CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), ERROR_SUCCESS);
  }
  SECTION("PIN on the key; a second key of the token needs no PIN (the login belongs to the process)") {
    Signer s(false);
    CHECK_NTE(s.t->SetKeyProperty(s.prov, s.ec, NCRYPT_PIN_PROPERTY, (PBYTE)L"1234", 10, 0), ERROR_SUCCESS);
    CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), NCRYPT_SILENT_FLAG), ERROR_SUCCESS);
    BCRYPT_PKCS1_PADDING_INFO info{BCRYPT_SHA256_ALGORITHM};
    CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 1), BCRYPT_PAD_PKCS1 | NCRYPT_SILENT_FLAG), ERROR_SUCCESS);
    CHECK(Fake().Calls("login") == 1);
  }
  SECTION("wrong PIN") {
    Signer s(false);
    CHECK_NTE(s.t->SetKeyProperty(s.prov, s.ec, NCRYPT_PIN_PROPERTY, (PBYTE)L"9999", 10, 0), ERROR_SUCCESS);
    CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), SCARD_W_WRONG_CHV);
  }
  SECTION("a lost login is restored once") {
    Signer s;
    CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), ERROR_SUCCESS);
    Fake().logged_in = false;  // e.g. the token was unplugged and plugged back
    CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), ERROR_SUCCESS);
    CHECK(Fake().Calls("login") == 2);
  }
  SECTION("a key that needs authorization per signature, without its PIN, is refused in silent mode") {
    Signer s;
    Fake().always_authenticate = true;
    BCRYPT_PKCS1_PADDING_INFO info{BCRYPT_SHA256_ALGORITHM};
    CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 1), BCRYPT_PAD_PKCS1 | NCRYPT_SILENT_FLAG), NTE_SILENT_CONTEXT);
    CHECK(Fake().last_login["user_type"] == CKU_CONTEXT_SPECIFIC);
    CHECK(Fake().last_login["no_prompt"] == true);
    CHECK_NTE(s.t->SetKeyProperty(s.prov, s.rsa, NCRYPT_PIN_PROPERTY, (PBYTE)L"1234", 10, 0), ERROR_SUCCESS);
    CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 1), BCRYPT_PAD_PKCS1), ERROR_SUCCESS);
    CHECK_NTE(s.Sign(s.rsa, &info, std::vector<BYTE>(32, 1), BCRYPT_PAD_PKCS1), ERROR_SUCCESS);
  }
  SECTION("the provider opened silent makes every key silent") {
    UseFakeAgent();
    NCRYPT_KEY_STORAGE_FUNCTION_TABLE* t = nullptr;
    REQUIRE(GetKeyStorageInterface(kProviderName, &t, 0) == 0);
    NCRYPT_PROV_HANDLE p = 0;
    NCRYPT_KEY_HANDLE k = 0;
    REQUIRE_NTE(t->OpenProvider(&p, kProviderName, NCRYPT_SILENT_FLAG), ERROR_SUCCESS);
    REQUIRE_NTE(t->OpenKey(p, &k, L"vtoken:00fa4e0000000001:02", 0, 0), ERROR_SUCCESS);
    std::vector<BYTE> hash(32, 1), sig(64);
    DWORD n = 0;
    CHECK_NTE(t->SignHash(p, k, nullptr, hash.data(), 32, sig.data(), 64, &n, 0), NTE_SILENT_CONTEXT);
    t->FreeKey(p, k);
    t->FreeProvider(p);
  }
}

TEST_CASE("agent endpoint file parsing is strict") {
  const std::string secret(64, 'a');
  auto ok = ParseTcpEndpoint("# comment\nport=40123\r\nsecret=" + secret + "\nfuture=1\n");
  REQUIRE(ok);
  CHECK(ok->port == 40123);
  CHECK(ok->secret == std::vector<std::uint8_t>(32, 0xaa));
  CHECK_FALSE(ParseTcpEndpoint("port=0\nsecret=" + secret));
  CHECK_FALSE(ParseTcpEndpoint("port=70000\nsecret=" + secret));
  CHECK_FALSE(ParseTcpEndpoint("port=12x\nsecret=" + secret));
  CHECK_FALSE(ParseTcpEndpoint("port=123\nsecret=" + std::string(62, 'a')));
  CHECK_FALSE(ParseTcpEndpoint("port=123\nsecret=" + std::string(63, 'a') + "g"));
  CHECK_FALSE(ParseTcpEndpoint("port=123"));
  CHECK_FALSE(ParseTcpEndpoint("garbage"));
  CHECK_FALSE(ParseTcpEndpoint(std::string(5000, '#')));
}

TEST_CASE("DER helpers") {
  CHECK(FindHashAlg(L"SHA256")->length == 32);
  CHECK(FindHashAlg(L"SHA224") == nullptr);
  const std::uint8_t p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  REQUIRE(CurveFromParams(p384));
  CHECK(CurveFromParams(p384)->field_bytes == 48);
  const std::uint8_t unknown[] = {0x06, 0x01, 0x00};
  CHECK(CurveFromParams(unknown) == nullptr);
  const std::uint8_t n[] = {0x00, 0x01, 0xff};
  CHECK(BitLength(n) == 9);
  CHECK(StripLeadingZeros(n).size() == 2);
  const std::uint8_t u8[] = {0x01, 0, 0, 0, 0, 0, 0, 0}, u4[] = {0x03, 0x01, 0, 0}, bad[] = {1, 2, 3};
  CHECK(AttrUlong(u8) == 1);
  CHECK(AttrUlong(u4) == 0x103);
  CHECK_FALSE(AttrUlong(bad));
  // EC_POINT: bare and DER-wrapped forms; a truncated one is refused.
  std::vector<std::uint8_t> bare(65, 0x01);
  bare[0] = 0x04;
  std::vector<std::uint8_t> wrapped{0x04, 0x41};
  wrapped.insert(wrapped.end(), bare.begin(), bare.end());
  const Curve* p256 = CurveFromParams(std::vector<std::uint8_t>{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07});
  REQUIRE(p256);
  CHECK(EcPointXY(*p256, bare));
  CHECK(EcPointXY(*p256, wrapped));
  wrapped.pop_back();
  CHECK_FALSE(EcPointXY(*p256, wrapped));
}

TEST_CASE("an agent that goes away: NTE_DEVICE_NOT_READY, and the next agent is found again") {
  Signer s;
  CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), ERROR_SUCCESS);
  UseNoAgent();
  CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), NTE_DEVICE_NOT_READY);
  UseFakeAgent();  // a new agent: the login is gone with the old connection, the PIN property logs in again
  CHECK_NTE(s.Sign(s.ec, nullptr, std::vector<BYTE>(32, 1), 0), ERROR_SUCCESS);
  CHECK(Fake().Calls("login") == 1);
}
