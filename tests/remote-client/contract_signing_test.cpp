// Contract: credentials/info, credentials/authorize and signatures/signHash
// against the real service, with every signature verified by OpenSSL against
// the credential's certificate, and the signing rules (SCAL2 binding, SAD
// count and expiry, multisign, expired and revoked certificates, quota).
#include <catch2/catch.hpp>

#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include "contract_fixture.h"

using namespace vtoken;
using namespace vtoken::csc;
using namespace vtoken::csc::test;

namespace {

Bytes RandomHash(HashAlgo h) {
  Bytes b(HashSize(h));
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  return b;
}

struct Case {
  const char* key;
  HashAlgo hash;
  SignAlgo algo;
};

}  // namespace

TEST_CASE("credentials/info and list: key, chain, auth object, SCAL, multisign") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("info");
  const std::string rsa = svc->Issue(a, {.key = "rsa2048", .scal = 2, .multisign = 3, .quota = 400});
  const std::string ec = svc->Issue(a, {.key = "p384"});
  auto client = svc->LoggedIn(a);

  const auto info = client->GetCredentialInfo(rsa);
  REQUIRE_OK(info);
  CHECK(info->key.type == KeyType::Rsa);
  CHECK(info->key.bits == 2048);
  CHECK(info->key.enabled);
  CHECK(info->cert_status == "valid");
  REQUIRE(info->certificates.size() == 2);  // end entity + service CA
  CHECK(info->subject_dn.find(a.email) != std::string::npos);
  REQUIRE(info->valid_from);
  REQUIRE(info->valid_to);
  CHECK(*info->valid_to > std::chrono::system_clock::now() + std::chrono::hours(24 * 300));
  CHECK(info->scal == 2);
  CHECK(info->multisign == 3);
  REQUIRE(info->auth_objects.size() == 1);
  CHECK(info->auth_objects[0].id == "otp");
  CHECK(info->auth_objects[0].digits == 6);
  REQUIRE(info->quota);
  CHECK(info->quota->total == 400);
  CHECK(info->quota->used == 0);

  const auto ec_info = client->GetCredentialInfo(ec);
  REQUIRE_OK(ec_info);
  CHECK(ec_info->key.type == KeyType::Ec);
  CHECK(ec_info->key.curve == oid::kP384);
  CHECK(ec_info->key.SignatureSize() == 96);

  const auto all = client->ListCredentialInfos();
  REQUIRE_OK(all);
  REQUIRE(all->size() == 2);
  for (const auto& i : *all) CHECK((i.id == rsa || i.id == ec));
  auto none = client->GetCredentialInfo("no-such-credential");
  CHECK(KindOfResult(none) == CscErrorKind::NotFound);
}

TEST_CASE("signHash: every key and mechanism verifies against the certificate") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("sign");
  auto client = svc->LoggedIn(a);
  const PssParams pss256{HashAlgo::Sha256, HashAlgo::Sha256, 32};
  const PssParams pss512{HashAlgo::Sha512, HashAlgo::Sha512, 64};
  const Case cases[] = {
      {"rsa2048", HashAlgo::Sha256, {SignAlgo::Kind::RsaPkcs1, {}}},
      {"rsa2048", HashAlgo::Sha384, {SignAlgo::Kind::RsaPkcs1, {}}},
      {"rsa2048", HashAlgo::Sha512, {SignAlgo::Kind::RsaPkcs1, {}}},
      {"rsa2048", HashAlgo::Sha256, {SignAlgo::Kind::RsaPss, pss256}},
      {"rsa3072", HashAlgo::Sha512, {SignAlgo::Kind::RsaPss, pss512}},
      {"p256", HashAlgo::Sha256, {SignAlgo::Kind::Ecdsa, {}}},
      {"p256", HashAlgo::Sha512, {SignAlgo::Kind::Ecdsa, {}}},
      {"p384", HashAlgo::Sha384, {SignAlgo::Kind::Ecdsa, {}}},
  };
  std::map<std::string, std::string> ids;
  for (const auto& c : cases) {
    CAPTURE(c.key, HashOid(c.hash), static_cast<int>(c.algo.kind));
    if (!ids.contains(c.key)) ids[c.key] = svc->Issue(a, {.key = c.key, .multisign = 10});
    const std::string& id = ids[c.key];
    const auto info = client->GetCredentialInfo(id);
    REQUIRE_OK(info);
    const std::vector<Bytes> hashes = {RandomHash(c.hash), RandomHash(c.hash)};
    const auto sad = client->Authorize(id, svc->NextCode(a), 2, {}, c.hash);
    REQUIRE_OK(sad);
    const auto sigs = client->SignHash(id, *sad, hashes, c.hash, c.algo);
    INFO((sigs ? std::string() : Describe(sigs.error())));
    REQUIRE_OK(sigs);
    REQUIRE(sigs->size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      CHECK((*sigs)[i].size() == info->key.SignatureSize());
      CHECK(VerifyWithCertificate(info->certificates.front(), hashes[i], (*sigs)[i], c.hash, c.algo));
    }
    // A signature of another hash must not verify (the check above is real).
    CHECK_FALSE(VerifyWithCertificate(info->certificates.front(), RandomHash(c.hash), (*sigs)[0], c.hash, c.algo));
  }
}

TEST_CASE("SCAL1: one code for a batch of numSignatures, then the SAD is used up") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("batch");
  const std::string id = svc->Issue(a, {.key = "p256", .multisign = 5});
  auto client = svc->LoggedIn(a);
  const auto sad = client->Authorize(id, svc->NextCode(a), 3, {}, HashAlgo::Sha256);
  REQUIRE_OK(sad);
  const SignAlgo ecdsa{SignAlgo::Kind::Ecdsa, {}};
  REQUIRE_OK(client->SignHash(id, *sad, std::vector<Bytes>{RandomHash(HashAlgo::Sha256), RandomHash(HashAlgo::Sha256)},
                           HashAlgo::Sha256, ecdsa));
  // One left: two more are refused, all-or-nothing, and the last one still works.
  auto too_many = client->SignHash(id, *sad, std::vector<Bytes>{RandomHash(HashAlgo::Sha256), RandomHash(HashAlgo::Sha256)},
                                   HashAlgo::Sha256, ecdsa);
  const auto kind = KindOfResult(too_many);
  CHECK((kind == CscErrorKind::SadExpired || kind == CscErrorKind::SadInvalid));
  REQUIRE_OK(client->SignHash(id, *sad, std::vector<Bytes>{RandomHash(HashAlgo::Sha256)}, HashAlgo::Sha256, ecdsa));
  auto used_up = client->SignHash(id, *sad, std::vector<Bytes>{RandomHash(HashAlgo::Sha256)}, HashAlgo::Sha256, ecdsa);
  const auto used_kind = KindOfResult(used_up);
  CHECK((used_kind == CscErrorKind::SadExpired || used_kind == CscErrorKind::SadInvalid));
  CHECK(used_up.error().rv == CKR_USER_NOT_LOGGED_IN);

  auto over = client->Authorize(id, svc->NextCode(a), 6, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(over) == CscErrorKind::InvalidRequest);  // numSignatures > multisign
}

TEST_CASE("SCAL2: the SAD signs only the hashes it was issued for, once each") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("scal2");
  const std::string id = svc->Issue(a, {.key = "rsa2048", .scal = 2, .multisign = 5});
  auto client = svc->LoggedIn(a);
  const SignAlgo pkcs1{SignAlgo::Kind::RsaPkcs1, {}};
  const Bytes h1 = RandomHash(HashAlgo::Sha256), h2 = RandomHash(HashAlgo::Sha256);

  auto unbound = client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(unbound) == CscErrorKind::InvalidRequest);  // SCAL2 needs the hashes

  const auto sad = client->Authorize(id, svc->NextCode(a), 2, std::vector<Bytes>{h1, h2}, HashAlgo::Sha256);
  REQUIRE_OK(sad);
  auto other = client->SignHash(id, *sad, std::vector<Bytes>{RandomHash(HashAlgo::Sha256)}, HashAlgo::Sha256, pkcs1);
  CHECK(KindOfResult(other) == CscErrorKind::SadInvalid);
  auto other_algo = client->SignHash(id, *sad, std::vector<Bytes>{Bytes(48, 1)}, HashAlgo::Sha384, pkcs1);
  REQUIRE_FALSE(other_algo);
  REQUIRE_OK(client->SignHash(id, *sad, std::vector<Bytes>{h2}, HashAlgo::Sha256, pkcs1));
  auto twice = client->SignHash(id, *sad, std::vector<Bytes>{h2}, HashAlgo::Sha256, pkcs1);
  REQUIRE_FALSE(twice);
  const auto sigs = client->SignHash(id, *sad, std::vector<Bytes>{h1}, HashAlgo::Sha256, pkcs1);
  REQUIRE_OK(sigs);
  const auto info = client->GetCredentialInfo(id);
  REQUIRE_OK(info);
  CHECK(VerifyWithCertificate(info->certificates.front(), h1, sigs->front(), HashAlgo::Sha256, pkcs1));
}

TEST_CASE("a SAD expires with the service clock") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("sadttl");
  const std::string id = svc->Issue(a, {.key = "p256"});
  auto client = svc->LoggedIn(a);
  const auto sad = client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  REQUIRE_OK(sad);
  REQUIRE_OK(client->GetCredentialInfo(id));
  svc->SetClockOffset(svc->clock_offset() + 301);  // default --sad-ttl 300
  auto r = client->SignHash(id, *sad, std::vector<Bytes>{RandomHash(HashAlgo::Sha256)}, HashAlgo::Sha256,
                            {SignAlgo::Kind::Ecdsa, {}});
  CHECK(KindOfResult(r) == CscErrorKind::SadExpired);
}

TEST_CASE("authorize: wrong and replayed codes, and five wrong codes block signing") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("authcode");
  const std::string id = svc->Issue(a, {.key = "p256"});
  auto client = svc->LoggedIn(a);
  const Secret code = svc->NextCode(a);
  REQUIRE_OK(client->Authorize(id, code, 1, {}, HashAlgo::Sha256));
  auto replay = client->Authorize(id, code, 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(replay) == CscErrorKind::WrongCode);
  for (int i = 0; i < 5; ++i) {
    auto wrong = client->Authorize(id, Service::WrongCode(svc->NextCode(a)), 1, {}, HashAlgo::Sha256);
    const auto kind = KindOfResult(wrong);
    CHECK((kind == CscErrorKind::WrongCode || (i == 4 && kind == CscErrorKind::Blocked)));
  }
  auto blocked = client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(blocked) == CscErrorKind::Blocked);
  svc->ResetTotp(a);
  CHECK_OK(client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256));
}

TEST_CASE("an expired certificate cannot authorize") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("expired");
  const std::string id = svc->Issue(a, {.key = "p256", .expired = true});
  auto client = svc->LoggedIn(a);
  const auto info = client->GetCredentialInfo(id);
  REQUIRE_OK(info);
  CHECK(info->cert_status == "expired");
  CHECK_FALSE(info->key.enabled);
  auto r = client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(r) == CscErrorKind::CertificateExpired);
  CHECK(r.error().rv == CKR_KEY_FUNCTION_NOT_PERMITTED);
  CHECK(r.error().message.find("Signing certificate is expired") != std::string::npos);
}

TEST_CASE("a certificate past its validity on the service clock cannot authorize") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("expiring");
  const std::string id = svc->Issue(a, {.key = "p256"});
  auto client = svc->LoggedIn(a, true);
  REQUIRE_OK(client->GetCredentialInfo(id));
  const auto sad = client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  REQUIRE_OK(sad);
  // Two years later the one-year certificate has expired (and so has the SAD
  // and the access token; the service must name the certificate).
  svc->SetClockOffset(svc->clock_offset() + 2L * 366 * 24 * 3600);
  auto fresh = svc->LoggedIn(a);
  auto r = fresh->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(r) == CscErrorKind::CertificateExpired);
  svc->SetClockOffset(0);
}

TEST_CASE("a revoked credential cannot authorize or sign") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("revoked");
  const std::string id = svc->Issue(a, {.key = "p256"});
  auto client = svc->LoggedIn(a);
  REQUIRE_OK(client->GetCredentialInfo(id));
  const auto sad = client->Authorize(id, svc->NextCode(a), 2, {}, HashAlgo::Sha256);
  REQUIRE_OK(sad);
  svc->RevokeCredential(id);
  auto sign = client->SignHash(id, *sad, std::vector<Bytes>{RandomHash(HashAlgo::Sha256)}, HashAlgo::Sha256,
                               {SignAlgo::Kind::Ecdsa, {}});
  CHECK(KindOfResult(sign) == CscErrorKind::CertificateRevoked);
  auto authorize = client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(authorize) == CscErrorKind::CertificateRevoked);
  const auto info = client->GetCredentialInfo(id);
  REQUIRE_OK(info);
  CHECK(info->cert_status == "revoked");
}

TEST_CASE("a used-up quota refuses with its own error") {
  VT_REQUIRE_SERVICE(svc);
  const Account a = svc->CreateAccount("quota");
  const std::string id = svc->Issue(a, {.key = "p256", .multisign = 5, .quota = 2});
  auto client = svc->LoggedIn(a);
  REQUIRE_OK(client->GetCredentialInfo(id));
  const SignAlgo ecdsa{SignAlgo::Kind::Ecdsa, {}};
  auto hashes = [](int n) {
    std::vector<Bytes> out;
    for (int i = 0; i < n; ++i) out.push_back(RandomHash(HashAlgo::Sha256));
    return out;
  };
  // A SAD for more than the quota left may be issued (API.md checks the
  // quota when signing), but signing more than remains is refused whole.
  auto sad = client->Authorize(id, svc->NextCode(a), 3, {}, HashAlgo::Sha256);
  if (!sad) {
    CHECK(KindOfResult(sad) == CscErrorKind::QuotaExceeded);
    sad = client->Authorize(id, svc->NextCode(a), 2, {}, HashAlgo::Sha256);
  } else {
    auto three = client->SignHash(id, *sad, hashes(3), HashAlgo::Sha256, ecdsa);
    CHECK(KindOfResult(three) == CscErrorKind::QuotaExceeded);
  }
  REQUIRE_OK(sad);
  REQUIRE_OK(client->SignHash(id, *sad, hashes(2), HashAlgo::Sha256, ecdsa));
  auto r = client->Authorize(id, svc->NextCode(a), 1, {}, HashAlgo::Sha256);
  CHECK(KindOfResult(r) == CscErrorKind::QuotaExceeded);
  CHECK(r.error().rv == CKR_FUNCTION_REJECTED);
  const auto info = client->GetCredentialInfo(id);
  REQUIRE_OK(info);
  REQUIRE(info->quota);
  CHECK(info->quota->used == 2);
  CHECK_FALSE(info->key.enabled);
}
