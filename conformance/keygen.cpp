// Key pair generation: RSA 2048/3072/4096, EC P-256/P-384, each key used
// once for a signature checked by OpenSSL; bad templates and states.
#include "conformance/crypto_check.h"

namespace vtoken::conformance {
namespace {

void CheckPair(Context& c, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub, CK_OBJECT_HANDLE priv, bool rsa) {
  Pkey key = PublicKeyOf(c, s, pub);
  c.Note("public key rebuilt by OpenSSL", key ? "yes" : "no");
  c.Note("key bits", key ? std::to_string(EVP_PKEY_get_bits(key.get())) : "?");
  c.Note("CKA_ID pub == priv", c.Attr(s, pub, CKA_ID, "pub CKA_ID") == c.Attr(s, priv, CKA_ID, "priv CKA_ID") ? "yes" : "no");
  Bytes local = c.Attr(s, priv, CKA_LOCAL, "priv CKA_LOCAL");
  c.Note("CKA_LOCAL", local.size() == 1 && local[0] ? "true" : "false");
  CK_MECHANISM m{rsa ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, nullptr, 0};
  Bytes data(32, 0x42), sig(1024);
  c.Need("C_SignInit", c.p11().C_SignInit(s, &m, priv));
  CK_ULONG len = sig.size();
  c.Need("C_Sign", c.p11().C_Sign(s, data.data(), data.size(), sig.data(), &len), CKR_OK).With("len=" + std::to_string(len));
  sig.resize(len);
  c.Note("OpenSSL verify", rsa ? VerifyRsaPkcs1(key.get(), "SHA256", data, sig) : VerifyEcdsaRaw(key.get(), data, sig));
}

void AddRsa(ScenarioList& list, CK_ULONG bits, bool token) {
  list.push_back({"keygen/rsa-" + std::to_string(bits) + (token ? "" : "-session"), [=](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    if (!c.Supports(slot, CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR))
                      c.Stop("mechanism not supported by this module");
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s);
                    CK_OBJECT_HANDLE pub, priv;
                    c.Need("C_GenerateKeyPair", GenerateRsa(c.p11(), s, bits, c.UniqueLabel("rsa"), token, &pub, &priv));
                    CheckPair(c, s, pub, priv, true);
                    c.Rec("C_DestroyObject private", c.p11().C_DestroyObject(s, priv));
                    c.Rec("C_DestroyObject public", c.p11().C_DestroyObject(s, pub));
                  }});
}

void AddEc(ScenarioList& list, const char* name, const Bytes& oid, bool token) {
  list.push_back({std::string("keygen/ec-") + name + (token ? "" : "-session"), [=](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    if (!c.Supports(slot, CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR))
                      c.Stop("mechanism not supported by this module");
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s);
                    CK_OBJECT_HANDLE pub, priv;
                    c.Need("C_GenerateKeyPair", GenerateEc(c.p11(), s, oid, c.UniqueLabel("ec"), token, &pub, &priv));
                    CheckPair(c, s, pub, priv, false);
                    c.Rec("C_DestroyObject private", c.p11().C_DestroyObject(s, priv));
                    c.Rec("C_DestroyObject public", c.p11().C_DestroyObject(s, pub));
                  }});
}

CK_RV GenerateWith(Context& c, CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, Template pub, Template priv) {
  CK_MECHANISM m{mech, nullptr, 0};
  auto pa = pub.Get(), ka = priv.Get();
  CK_OBJECT_HANDLE hp, hk;
  return c.p11().C_GenerateKeyPair(s, &m, pa.data(), pa.size(), ka.data(), ka.size(), &hp, &hk);
}

}  // namespace

void AddKeygen(ScenarioList& list) {
  AddRsa(list, 2048, true);
  AddRsa(list, 3072, true);
  AddRsa(list, 4096, true);
  AddRsa(list, 2048, false);
  AddEc(list, "p256", kOidP256, true);
  AddEc(list, "p384", kOidP384, true);
  AddEc(list, "p256", kOidP256, false);
  list.push_back({"keygen/rsa-missing-modulus-bits", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    Template pub, priv;
                    pub.Bool(CKA_TOKEN, false).Bool(CKA_VERIFY, true);
                    priv.Bool(CKA_TOKEN, false).Bool(CKA_SIGN, true);
                    c.Rec("C_GenerateKeyPair", GenerateWith(c, s, CKM_RSA_PKCS_KEY_PAIR_GEN, pub, priv));
                  }});
  list.push_back({"keygen/ec-missing-params", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    Template pub, priv;
                    pub.Bool(CKA_TOKEN, false).Bool(CKA_VERIFY, true);
                    priv.Bool(CKA_TOKEN, false).Bool(CKA_SIGN, true);
                    c.Rec("C_GenerateKeyPair", GenerateWith(c, s, CKM_EC_KEY_PAIR_GEN, pub, priv));
                  }});
  list.push_back({"keygen/ec-unknown-curve", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    Template pub, priv;
                    pub.Bool(CKA_TOKEN, false).Add(CKA_EC_PARAMS, {0x06, 0x03, 0x2a, 0x03, 0x04});
                    priv.Bool(CKA_TOKEN, false).Bool(CKA_SIGN, true);
                    c.Rec("C_GenerateKeyPair", GenerateWith(c, s, CKM_EC_KEY_PAIR_GEN, pub, priv));
                  }});
  list.push_back({"keygen/ro-session", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Login(s);
                    CK_OBJECT_HANDLE pub, priv;
                    c.Rec("C_GenerateKeyPair(token, RO)", GenerateEc(c.p11(), s, kOidP256, c.UniqueLabel("ec"), true, &pub, &priv));
                  }});
  list.push_back({"keygen/not-logged-in", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    CK_OBJECT_HANDLE pub, priv;
                    c.Rec("C_GenerateKeyPair(private key, public session)",
                          GenerateEc(c.p11(), s, kOidP256, c.UniqueLabel("ec"), true, &pub, &priv));
                  }});
  list.push_back({"keygen/wrong-mechanism", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    Template pub, priv;
                    pub.Bool(CKA_TOKEN, false).Add(CKA_EC_PARAMS, kOidP256);
                    priv.Bool(CKA_TOKEN, false);
                    c.Rec("C_GenerateKeyPair(CKM_SHA256)", GenerateWith(c, s, CKM_SHA256, pub, priv));
                  }});
  list.push_back({"keygen/null-handles", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    Template pub, priv;
                    pub.Bool(CKA_TOKEN, false).Add(CKA_EC_PARAMS, kOidP256);
                    priv.Bool(CKA_TOKEN, false);
                    CK_MECHANISM m{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
                    auto pa = pub.Get(), ka = priv.Get();
                    c.Rec("C_GenerateKeyPair(phPrivateKey NULL)",
                          c.p11().C_GenerateKeyPair(s, &m, pa.data(), pa.size(), ka.data(), ka.size(), nullptr, nullptr));
                  }});
  list.push_back({"keygen/generated-keys-visible-after-relogin", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s);
                    std::string label = c.UniqueLabel("ec");
                    CK_OBJECT_HANDLE pub, priv;
                    c.Need("C_GenerateKeyPair", GenerateEc(c.p11(), s, kOidP256, label, true, &pub, &priv));
                    c.Rec("C_CloseAllSessions", c.p11().C_CloseAllSessions(slot));
                    CK_SESSION_HANDLE s2 = c.Open(slot, false);
                    Template t;
                    t.Str(CKA_LABEL, label);
                    c.Find(s2, t.Get(), "find before login");
                    c.Login(s2);
                    c.Find(s2, t.Get(), "find after login");
                  }});
}

}  // namespace vtoken::conformance
