// RSA decryption: data encrypted by OpenSSL with the token's public key and
// decrypted by the module (OAEP with SHA-1 and SHA-256, PKCS #1 v1.5).
#include "conformance/crypto_check.h"

namespace vtoken::conformance {
namespace {

const Bytes kPlain = ToBytes("a session key of 32 bytes.......");

struct Decryptor {
  CK_SESSION_HANDLE s;
  CK_OBJECT_HANDLE priv;
  Pkey pub;
};

Decryptor Prepare(Context& c, CK_MECHANISM_TYPE m) {
  CK_SLOT_ID slot = c.MainSlot();
  if (!c.Supports(slot, m, CKF_DECRYPT)) c.Stop("mechanism not supported by this module");
  Decryptor d{c.Open(slot, false), 0, nullptr};
  c.Login(d.s);
  d.priv = c.Key(d.s, kRsaKey, CKO_PRIVATE_KEY);
  d.pub = PublicKeyOf(c, d.s, c.Key(d.s, kRsaKey, CKO_PUBLIC_KEY));
  return d;
}

CK_RV Decrypt(Context& c, CK_SESSION_HANDLE s, Bytes& in, Bytes& out) {
  CK_ULONG len = out.size();
  CK_RV rv = c.p11().C_Decrypt(s, in.data(), in.size(), out.empty() ? nullptr : out.data(), &len);
  out.resize(rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL ? len : 0);
  return rv;
}

void AddOaep(ScenarioList& list, const char* md, CK_MECHANISM_TYPE hash, CK_RSA_PKCS_MGF_TYPE mgf) {
  list.push_back({std::string("decrypt/oaep-") + md, [=](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    Bytes ct = RsaEncrypt(d.pub.get(), "oaep", md, kPlain);
                    CK_RSA_PKCS_OAEP_PARAMS p{hash, mgf, CKZ_DATA_SPECIFIED, nullptr, 0};
                    CK_MECHANISM m{CKM_RSA_PKCS_OAEP, &p, sizeof p};
                    c.Need("C_DecryptInit", c.p11().C_DecryptInit(d.s, &m, d.priv));
                    Bytes out;
                    c.Rec("C_Decrypt(NULL)", Decrypt(c, d.s, ct, out)).With("len>=32: " + std::string(out.size() >= 32 ? "yes" : "no"));
                    out.resize(256);
                    c.Rec("C_Decrypt", Decrypt(c, d.s, ct, out)).With("len=" + std::to_string(out.size()));
                    c.Note("plaintext", out == kPlain ? "same" : "different");
                  }});
}

}  // namespace

void AddDecrypt(ScenarioList& list) {
  AddOaep(list, "SHA1", CKM_SHA_1, CKG_MGF1_SHA1);
  AddOaep(list, "SHA256", CKM_SHA256, CKG_MGF1_SHA256);
  AddOaep(list, "SHA384", CKM_SHA384, CKG_MGF1_SHA384);
  list.push_back({"decrypt/rsa-pkcs", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS);
                    Bytes ct = RsaEncrypt(d.pub.get(), "pkcs1", "", kPlain);
                    CK_MECHANISM m{CKM_RSA_PKCS, nullptr, 0};
                    c.Need("C_DecryptInit", c.p11().C_DecryptInit(d.s, &m, d.priv));
                    Bytes out(256);
                    c.Rec("C_Decrypt", Decrypt(c, d.s, ct, out)).With("len=" + std::to_string(out.size()));
                    c.Note("plaintext", out == kPlain ? "same" : "different");
                  }});
  list.push_back({"decrypt/oaep-too-small-keeps-operation", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    Bytes ct = RsaEncrypt(d.pub.get(), "oaep", "SHA1", kPlain);
                    CK_RSA_PKCS_OAEP_PARAMS p{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
                    CK_MECHANISM m{CKM_RSA_PKCS_OAEP, &p, sizeof p};
                    c.Need("C_DecryptInit", c.p11().C_DecryptInit(d.s, &m, d.priv));
                    Bytes out(4);
                    CK_RV rv = c.Rec("C_Decrypt(4 bytes)", Decrypt(c, d.s, ct, out));
                    c.Note("needed length >= 32", rv == CKR_BUFFER_TOO_SMALL && out.size() >= 32 ? "yes" : "no");
                    out.resize(256);
                    c.Rec("C_Decrypt", Decrypt(c, d.s, ct, out)).With("len=" + std::to_string(out.size()));
                    c.Note("plaintext", out == kPlain ? "same" : "different");
                  }});
  list.push_back({"decrypt/oaep-corrupted-ciphertext", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    Bytes ct = RsaEncrypt(d.pub.get(), "oaep", "SHA1", kPlain);
                    ct[5] ^= 0x40;
                    CK_RSA_PKCS_OAEP_PARAMS p{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
                    CK_MECHANISM m{CKM_RSA_PKCS_OAEP, &p, sizeof p};
                    c.Need("C_DecryptInit", c.p11().C_DecryptInit(d.s, &m, d.priv));
                    Bytes out(256);
                    CK_RV rv = Decrypt(c, d.s, ct, out);
                    c.Rec("C_Decrypt(corrupted)", rv);
                  }});
  list.push_back({"decrypt/oaep-wrong-length", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    CK_RSA_PKCS_OAEP_PARAMS p{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
                    CK_MECHANISM m{CKM_RSA_PKCS_OAEP, &p, sizeof p};
                    c.Need("C_DecryptInit", c.p11().C_DecryptInit(d.s, &m, d.priv));
                    Bytes ct(100, 1), out(256);
                    c.Rec("C_Decrypt(100 bytes)", Decrypt(c, d.s, ct, out));
                  }});
  list.push_back({"decrypt/oaep-without-parameters", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    CK_MECHANISM m{CKM_RSA_PKCS_OAEP, nullptr, 0};
                    c.Rec("C_DecryptInit(no params)", c.p11().C_DecryptInit(d.s, &m, d.priv));
                  }});
  list.push_back({"decrypt/without-init", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    Bytes ct(256, 1), out(256);
                    c.Rec("C_Decrypt", Decrypt(c, d.s, ct, out));
                  }});
  list.push_back({"decrypt/init-twice", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    CK_RSA_PKCS_OAEP_PARAMS p{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
                    CK_MECHANISM m{CKM_RSA_PKCS_OAEP, &p, sizeof p};
                    c.Rec("C_DecryptInit", c.p11().C_DecryptInit(d.s, &m, d.priv));
                    c.Rec("C_DecryptInit again", c.p11().C_DecryptInit(d.s, &m, d.priv));
                  }});
  list.push_back({"decrypt/ec-key", [](Context& c) {
                    Decryptor d = Prepare(c, CKM_RSA_PKCS_OAEP);
                    CK_OBJECT_HANDLE ec = c.Key(d.s, kEc256Key, CKO_PRIVATE_KEY);
                    CK_RSA_PKCS_OAEP_PARAMS p{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
                    CK_MECHANISM m{CKM_RSA_PKCS_OAEP, &p, sizeof p};
                    c.Rec("C_DecryptInit(EC key)", c.p11().C_DecryptInit(d.s, &m, ec));
                  }});
}

}  // namespace vtoken::conformance
