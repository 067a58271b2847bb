// Every signature mechanism on the fixture keys, single- and multi-part, each
// signature checked by OpenSSL and by the module's own C_Verify.
#include "conformance/crypto_check.h"

namespace vtoken::conformance {

enum class Input { kDigestInfo, kMessage, kHash };
enum class Check { kRsaRaw, kRsaPkcs1, kPss, kEcdsa };

struct SignCase {
  std::string name;
  CK_MECHANISM_TYPE mech;
  std::string_view key;
  std::string md;  // hash of the scheme ("MD5SHA1": the TLS 1.0 36-byte form)
  Input input;
  Check check;
  bool multipart = false;
};

namespace {

Bytes Message() {
  Bytes m;
  for (int i = 0; i < 40; ++i)
    for (char ch : std::string_view("vtoken conformance message. ")) m.push_back(static_cast<unsigned char>(ch));
  return m;
}

Bytes HashOf(std::string_view md, const Bytes& msg) {
  if (md != "MD5SHA1") return Digest(md, msg);
  Bytes out = Digest("MD5", msg), sha1 = Digest("SHA1", msg);
  out.insert(out.end(), sha1.begin(), sha1.end());
  return out;
}

CK_MECHANISM_TYPE HashMech(std::string_view md) {
  if (md == "SHA1") return CKM_SHA_1;
  if (md == "SHA224") return CKM_SHA224;
  if (md == "SHA256") return CKM_SHA256;
  if (md == "SHA384") return CKM_SHA384;
  return CKM_SHA512;
}

CK_RSA_PKCS_MGF_TYPE Mgf(std::string_view md) {
  if (md == "SHA1") return CKG_MGF1_SHA1;
  if (md == "SHA224") return CKG_MGF1_SHA224;
  if (md == "SHA256") return CKG_MGF1_SHA256;
  if (md == "SHA384") return CKG_MGF1_SHA384;
  return CKG_MGF1_SHA512;
}

}  // namespace

void PlaySign(Context& c, const SignCase& sc) {
  CK_SLOT_ID slot = c.MainSlot();
  if (!c.Supports(slot, sc.mech, CKF_SIGN)) c.Stop("mechanism not supported by this module");
  CK_SESSION_HANDLE s = c.Open(slot, false);
  c.Login(s);
  CK_OBJECT_HANDLE priv = c.Key(s, sc.key, CKO_PRIVATE_KEY);
  CK_OBJECT_HANDLE pub = c.Key(s, sc.key, CKO_PUBLIC_KEY);
  Pkey pkey = PublicKeyOf(c, s, pub);
  c.Note("public key rebuilt by OpenSSL", pkey ? "yes" : "no");

  const Bytes msg = Message();
  const Bytes hash = HashOf(sc.md, msg);
  const Bytes input = sc.input == Input::kMessage ? msg : sc.input == Input::kHash ? hash : DigestInfo(sc.md, hash);
  CK_RSA_PKCS_PSS_PARAMS pss{HashMech(sc.md), Mgf(sc.md), hash.size()};
  CK_MECHANISM mech{sc.mech, nullptr, 0};
  if (sc.check == Check::kPss) mech = {sc.mech, &pss, sizeof pss};

  c.Need("C_SignInit", c.p11().C_SignInit(s, &mech, priv));
  Bytes sig;
  CK_ULONG len = 0;
  if (sc.multipart) {
    const std::size_t third = input.size() / 3;
    for (std::size_t off = 0; off < input.size(); off += third) {
      const std::size_t n = std::min(third, input.size() - off);
      c.Need("C_SignUpdate", c.p11().C_SignUpdate(s, const_cast<unsigned char*>(input.data()) + off, n));
    }
    c.Need("C_SignFinal(NULL)", c.p11().C_SignFinal(s, nullptr, &len));
    c.Note("signature length", std::to_string(len));
    sig.resize(len);
    c.Need("C_SignFinal", c.p11().C_SignFinal(s, sig.data(), &len), CKR_OK).With("len=" + std::to_string(len));
  } else {
    auto* in = const_cast<unsigned char*>(input.data());
    c.Need("C_Sign(NULL)", c.p11().C_Sign(s, in, input.size(), nullptr, &len));
    c.Note("signature length", std::to_string(len));
    sig.resize(len);
    c.Need("C_Sign", c.p11().C_Sign(s, in, input.size(), sig.data(), &len), CKR_OK).With("len=" + std::to_string(len));
  }
  sig.resize(len);

  std::string verdict;
  switch (sc.check) {
    case Check::kRsaRaw: verdict = VerifyRsaPkcs1Raw(pkey.get(), input, sig); break;
    case Check::kRsaPkcs1: verdict = VerifyRsaPkcs1(pkey.get(), sc.md, msg, sig); break;
    case Check::kPss: verdict = VerifyRsaPss(pkey.get(), sc.md, hash, sig, static_cast<int>(hash.size())); break;
    case Check::kEcdsa: verdict = VerifyEcdsaRaw(pkey.get(), hash, sig); break;
  }
  c.Note("OpenSSL verify", verdict);

  if (!c.Supports(slot, sc.mech, CKF_VERIFY)) return;
  c.Need("C_VerifyInit", c.p11().C_VerifyInit(s, &mech, pub));
  c.Rec("C_Verify", c.p11().C_Verify(s, const_cast<unsigned char*>(input.data()), input.size(), sig.data(), sig.size()));
}

void AddSigning(ScenarioList& list) {
  std::vector<SignCase> cases;
  for (std::string md : {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"})
    cases.push_back({"rsa-pkcs-digestinfo-" + md, CKM_RSA_PKCS, kRsaKey, md, Input::kDigestInfo, Check::kRsaRaw});
  cases.push_back({"rsa-pkcs-md5-sha1", CKM_RSA_PKCS, kRsaKey, "MD5SHA1", Input::kHash, Check::kRsaRaw});
  const std::pair<std::string, CK_MECHANISM_TYPE> kRsaHash[] = {{"SHA1", CKM_SHA1_RSA_PKCS},
                                                                {"SHA224", CKM_SHA224_RSA_PKCS},
                                                                {"SHA256", CKM_SHA256_RSA_PKCS},
                                                                {"SHA384", CKM_SHA384_RSA_PKCS},
                                                                {"SHA512", CKM_SHA512_RSA_PKCS}};
  for (auto& [md, m] : kRsaHash) {
    cases.push_back({md + "-rsa-pkcs", m, kRsaKey, md, Input::kMessage, Check::kRsaPkcs1});
    cases.push_back({md + "-rsa-pkcs-multipart", m, kRsaKey, md, Input::kMessage, Check::kRsaPkcs1, true});
  }
  for (std::string md : {"SHA1", "SHA224", "SHA256", "SHA384", "SHA512"})
    cases.push_back({"rsa-pss-prehashed-" + md, CKM_RSA_PKCS_PSS, kRsaKey, md, Input::kHash, Check::kPss});
  const std::pair<std::string, CK_MECHANISM_TYPE> kPssHash[] = {{"SHA1", CKM_SHA1_RSA_PKCS_PSS},
                                                                {"SHA224", CKM_SHA224_RSA_PKCS_PSS},
                                                                {"SHA256", CKM_SHA256_RSA_PKCS_PSS},
                                                                {"SHA384", CKM_SHA384_RSA_PKCS_PSS},
                                                                {"SHA512", CKM_SHA512_RSA_PKCS_PSS}};
  for (auto& [md, m] : kPssHash) cases.push_back({md + "-rsa-pss", m, kRsaKey, md, Input::kMessage, Check::kPss});
  cases.push_back({"SHA256-rsa-pss-multipart", CKM_SHA256_RSA_PKCS_PSS, kRsaKey, "SHA256", Input::kMessage, Check::kPss, true});
  cases.push_back({"SHA512-rsa-pss-multipart", CKM_SHA512_RSA_PKCS_PSS, kRsaKey, "SHA512", Input::kMessage, Check::kPss, true});
  cases.push_back({"ecdsa-p256-sha256-hash", CKM_ECDSA, kEc256Key, "SHA256", Input::kHash, Check::kEcdsa});
  cases.push_back({"ecdsa-p256-sha1-hash", CKM_ECDSA, kEc256Key, "SHA1", Input::kHash, Check::kEcdsa});
  cases.push_back({"ecdsa-p256-sha512-hash", CKM_ECDSA, kEc256Key, "SHA512", Input::kHash, Check::kEcdsa});
  cases.push_back({"ecdsa-p384-sha384-hash", CKM_ECDSA, kEc384Key, "SHA384", Input::kHash, Check::kEcdsa});
  cases.push_back({"ecdsa-p384-sha256-hash", CKM_ECDSA, kEc384Key, "SHA256", Input::kHash, Check::kEcdsa});
  const std::pair<std::string, CK_MECHANISM_TYPE> kEcHash[] = {{"SHA1", CKM_ECDSA_SHA1},
                                                               {"SHA224", CKM_ECDSA_SHA224},
                                                               {"SHA256", CKM_ECDSA_SHA256},
                                                               {"SHA384", CKM_ECDSA_SHA384},
                                                               {"SHA512", CKM_ECDSA_SHA512}};
  for (auto& [md, m] : kEcHash) cases.push_back({"ecdsa-" + md + "-p256", m, kEc256Key, md, Input::kMessage, Check::kEcdsa});
  cases.push_back({"ecdsa-SHA384-p384", CKM_ECDSA_SHA384, kEc384Key, "SHA384", Input::kMessage, Check::kEcdsa});
  cases.push_back({"ecdsa-SHA256-p256-multipart", CKM_ECDSA_SHA256, kEc256Key, "SHA256", Input::kMessage, Check::kEcdsa, true});
  for (auto& sc : cases) list.push_back({"sign/" + sc.name, [sc](Context& c) { PlaySign(c, sc); }});
}

}  // namespace vtoken::conformance
