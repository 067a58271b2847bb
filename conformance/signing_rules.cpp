// Sign/verify operation rules: wrong order, double init, the buffer
// convention (NULL → length, too small → CKR_BUFFER_TOO_SMALL, the operation
// goes on), wrong keys and bad mechanism parameters.
#include "conformance/crypto_check.h"

namespace vtoken::conformance {
namespace {

const Bytes kData(32, 0x5a);  // stands for a SHA-256 hash

struct Signer {
  CK_SESSION_HANDLE s;
  CK_OBJECT_HANDLE rsa, rsa_pub, ec, ec_pub;
};

Signer LoggedIn(Context& c) {
  Signer g{};
  g.s = c.Open(c.MainSlot(), false);
  c.Login(g.s);
  g.rsa = c.Key(g.s, kRsaKey, CKO_PRIVATE_KEY);
  g.rsa_pub = c.Key(g.s, kRsaKey, CKO_PUBLIC_KEY);
  g.ec = c.Key(g.s, kEc256Key, CKO_PRIVATE_KEY);
  g.ec_pub = c.Key(g.s, kEc256Key, CKO_PUBLIC_KEY);
  return g;
}

CK_RV Sign(Context& c, CK_SESSION_HANDLE s, Bytes data, Bytes& sig) {
  CK_ULONG len = sig.size();
  CK_RV rv = c.p11().C_Sign(s, data.data(), data.size(), sig.empty() ? nullptr : sig.data(), &len);
  sig.resize(rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL ? len : 0);
  return rv;
}

CK_MECHANISM Mech(CK_MECHANISM_TYPE m) { return {m, nullptr, 0}; }

void AddInitCase(ScenarioList& list, const char* name, CK_MECHANISM_TYPE m, bool ec_key, bool pub_key) {
  list.push_back({std::string("sign-rules/init-") + name, [=](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM mech = Mech(m);
                    CK_OBJECT_HANDLE key = ec_key ? (pub_key ? g.ec_pub : g.ec) : (pub_key ? g.rsa_pub : g.rsa);
                    c.Rec("C_SignInit", c.p11().C_SignInit(g.s, &mech, key));
                  }});
}

}  // namespace

void AddSigningRules(ScenarioList& list) {
  list.push_back({"sign-rules/sign-without-init", [](Context& c) {
                    Signer g = LoggedIn(c);
                    Bytes sig(512);
                    c.Rec("C_Sign", Sign(c, g.s, kData, sig));
                    CK_BYTE b = 0;
                    c.Rec("C_SignUpdate", c.p11().C_SignUpdate(g.s, &b, 1));
                    CK_ULONG len = 0;
                    c.Rec("C_SignFinal", c.p11().C_SignFinal(g.s, nullptr, &len));
                  }});
  list.push_back({"sign-rules/verify-without-init", [](Context& c) {
                    Signer g = LoggedIn(c);
                    Bytes sig(256, 1), data = kData;
                    c.Rec("C_Verify", c.p11().C_Verify(g.s, data.data(), data.size(), sig.data(), sig.size()));
                  }});
  list.push_back({"sign-rules/init-twice", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_ECDSA);
                    c.Rec("C_SignInit", c.p11().C_SignInit(g.s, &m, g.ec));
                    c.Rec("C_SignInit again", c.p11().C_SignInit(g.s, &m, g.ec));
                    Bytes sig(64);
                    c.Rec("C_Sign (first operation)", Sign(c, g.s, kData, sig)).With("len=" + std::to_string(sig.size()));
                  }});
  list.push_back({"sign-rules/length-query-keeps-operation", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_SHA256_RSA_PKCS);
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.rsa));
                    Bytes sig;
                    c.Rec("C_Sign(NULL)", Sign(c, g.s, kData, sig)).With("len=" + std::to_string(sig.size()));
                    sig.clear();
                    c.Rec("C_Sign(NULL) again", Sign(c, g.s, kData, sig)).With("len=" + std::to_string(sig.size()));
                    c.Rec("C_Sign", Sign(c, g.s, kData, sig)).With("len=" + std::to_string(sig.size()));
                    c.Note("OpenSSL verify", VerifyRsaPkcs1(PublicKeyOf(c, g.s, g.rsa_pub).get(), "SHA256", kData, sig));
                    c.Rec("C_Sign after the end", Sign(c, g.s, kData, sig));
                  }});
  list.push_back({"sign-rules/too-small-keeps-operation", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_ECDSA);
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.ec));
                    Bytes sig(10);
                    c.Rec("C_Sign(10 bytes)", Sign(c, g.s, kData, sig)).With("len=" + std::to_string(sig.size()));
                    sig.resize(64);
                    c.Rec("C_Sign(64 bytes)", Sign(c, g.s, kData, sig)).With("len=" + std::to_string(sig.size()));
                    c.Note("OpenSSL verify", VerifyEcdsaRaw(PublicKeyOf(c, g.s, g.ec_pub).get(), kData, sig));
                  }});
  list.push_back({"sign-rules/final-too-small-keeps-operation", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_SHA256_RSA_PKCS);
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.rsa));
                    Bytes data = kData;
                    c.Rec("C_SignUpdate", c.p11().C_SignUpdate(g.s, data.data(), data.size()));
                    Bytes sig(16);
                    CK_ULONG len = sig.size();
                    c.Rec("C_SignFinal(16 bytes)", c.p11().C_SignFinal(g.s, sig.data(), &len)).With("len=" + std::to_string(len));
                    sig.resize(len);
                    c.Rec("C_SignFinal", c.p11().C_SignFinal(g.s, sig.data(), &len)).With("len=" + std::to_string(len));
                    c.Note("OpenSSL verify", VerifyRsaPkcs1(PublicKeyOf(c, g.s, g.rsa_pub).get(), "SHA256", kData, sig));
                    c.Rec("C_SignFinal after the end", c.p11().C_SignFinal(g.s, sig.data(), &len));
                  }});
  list.push_back({"sign-rules/null-signature-length", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_ECDSA);
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.ec));
                    Bytes data = kData;
                    c.Rec("C_Sign(pulSignatureLen NULL)", c.p11().C_Sign(g.s, data.data(), data.size(), nullptr, nullptr));
                  }});
  AddInitCase(list, "unknown-mechanism", 0x7fff0000, false, false);
  AddInitCase(list, "digest-mechanism", CKM_SHA256, false, false);
  AddInitCase(list, "rsa-mechanism-ec-key", CKM_SHA256_RSA_PKCS, true, false);
  AddInitCase(list, "ecdsa-mechanism-rsa-key", CKM_ECDSA, false, false);
  AddInitCase(list, "rsa-public-key", CKM_SHA256_RSA_PKCS, false, true);
  AddInitCase(list, "ec-public-key", CKM_ECDSA, true, true);
  list.push_back({"sign-rules/init-invalid-key", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_ECDSA);
                    c.Rec("C_SignInit(0xdead0)", c.p11().C_SignInit(g.s, &m, 0xdead0));
                  }});
  list.push_back({"sign-rules/init-null-mechanism", [](Context& c) {
                    Signer g = LoggedIn(c);
                    c.Rec("C_SignInit(NULL)", c.p11().C_SignInit(g.s, nullptr, g.ec));
                  }});
  list.push_back({"sign-rules/init-after-logout", [](Context& c) {
                    Signer g = LoggedIn(c);
                    c.Rec("C_Logout", c.p11().C_Logout(g.s));
                    CK_MECHANISM m = Mech(CKM_ECDSA);
                    c.Rec("C_SignInit", c.p11().C_SignInit(g.s, &m, g.ec));
                  }});
  list.push_back({"sign-rules/rsa-pkcs-data-too-long", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_RSA_PKCS);
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.rsa));
                    Bytes sig(256);
                    c.Rec("C_Sign(250 bytes)", Sign(c, g.s, Bytes(250, 1), sig));
                    c.Rec("C_Sign after the error", Sign(c, g.s, kData, sig));
                  }});
  list.push_back({"sign-rules/pss-without-parameters", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_RSA_PKCS_PSS);
                    c.Rec("C_SignInit(PSS, no params)", c.p11().C_SignInit(g.s, &m, g.rsa));
                  }});
  list.push_back({"sign-rules/pss-hash-length-mismatch", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_RSA_PKCS_PSS_PARAMS p{CKM_SHA256, CKG_MGF1_SHA256, 32};
                    CK_MECHANISM m{CKM_RSA_PKCS_PSS, &p, sizeof p};
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.rsa));
                    Bytes sig(256);
                    c.Rec("C_Sign(20-byte input)", Sign(c, g.s, Bytes(20, 1), sig));
                  }});
  list.push_back({"sign-rules/verify-tampered-rsa", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_SHA256_RSA_PKCS);
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.rsa));
                    Bytes sig(256), data = kData;
                    c.Need("C_Sign", Sign(c, g.s, data, sig));
                    sig[10] ^= 1;
                    c.Need("C_VerifyInit", c.p11().C_VerifyInit(g.s, &m, g.rsa_pub));
                    c.Rec("C_Verify(tampered)", c.p11().C_Verify(g.s, data.data(), data.size(), sig.data(), sig.size()));
                  }});
  list.push_back({"sign-rules/verify-tampered-ecdsa", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_ECDSA);
                    c.Need("C_SignInit", c.p11().C_SignInit(g.s, &m, g.ec));
                    Bytes sig(64), data = kData;
                    c.Need("C_Sign", Sign(c, g.s, data, sig));
                    data[0] ^= 1;
                    c.Need("C_VerifyInit", c.p11().C_VerifyInit(g.s, &m, g.ec_pub));
                    c.Rec("C_Verify(other data)", c.p11().C_Verify(g.s, data.data(), data.size(), sig.data(), sig.size()));
                  }});
  list.push_back({"sign-rules/verify-wrong-length", [](Context& c) {
                    Signer g = LoggedIn(c);
                    CK_MECHANISM m = Mech(CKM_SHA256_RSA_PKCS);
                    c.Need("C_VerifyInit", c.p11().C_VerifyInit(g.s, &m, g.rsa_pub));
                    Bytes sig(100, 1), data = kData;
                    c.Rec("C_Verify(100-byte signature)", c.p11().C_Verify(g.s, data.data(), data.size(), sig.data(), sig.size()));
                  }});
  list.push_back({"sign-rules/sign-in-public-session-object", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    Template t;
                    t.Ulong(CKA_CLASS, CKO_PRIVATE_KEY).Str(CKA_LABEL, kEc256Key);
                    c.Find(s, t.Get(), "find private key (not logged in)");
                  }});
}

}  // namespace vtoken::conformance
