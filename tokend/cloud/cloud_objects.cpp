#include "tokend/cloud/cloud_objects.h"

#include <p11-kit/pkcs11.h>

#include "common/encoding.h"
#include "tokend/emulated/key_material.h"
#include "tokend/emulated/object_attributes.h"
#include "tokend/emulated/token_crypto.h"

namespace vtoken::agent::cloud {
namespace {

wire::Bytes Text(const std::string& s) { return wire::Bytes(s.begin(), s.end()); }

ObjectView View(const NewObject& o, bool is_private) {
  ObjectView v;
  v.attrs = ToWire(o.attrs);
  v.sensitive = o.sensitive;
  v.is_private = is_private;
  v.is_token = true;
  return v;
}

// A certificate object through the emulated token's builder (it derives
// CKA_SUBJECT/ISSUER/SERIAL_NUMBER/CHECK_VALUE/PUBLIC_KEY_INFO and CKA_ID).
Result<NewObject> Certificate(const wire::Bytes& der, const std::string& label, unsigned long category) {
  AttrMap tmpl{{CKA_CLASS, UlongBytes(CKO_CERTIFICATE)},
               {CKA_CERTIFICATE_TYPE, UlongBytes(CKC_X_509)},
               {CKA_TOKEN, BoolBytes(true)},
               {CKA_PRIVATE, BoolBytes(false)},
               {CKA_MODIFIABLE, BoolBytes(false)},
               {CKA_DESTROYABLE, BoolBytes(false)},
               {CKA_COPYABLE, BoolBytes(false)},
               {CKA_CERTIFICATE_CATEGORY, UlongBytes(category)},
               {CKA_LABEL, Text(label)},
               {CKA_VALUE, der}};
  return BuildObject(tmpl);
}

// A key half as the emulated token builds a generated key, from the
// certificate's public key; the key was generated in the service's HSM.
Result<NewObject> Key(unsigned long cls, EVP_PKEY* key, const wire::Bytes& id, const wire::Bytes& subject,
                      const std::string& label, bool always_authenticate) {
  (void)VT_TRY(KeyTypeOf(key));  // RSA or EC only
  AttrMap tmpl{{CKA_TOKEN, BoolBytes(true)},          {CKA_MODIFIABLE, BoolBytes(false)},
               {CKA_DESTROYABLE, BoolBytes(false)},   {CKA_COPYABLE, BoolBytes(false)},
               {CKA_LABEL, Text(label)},              {CKA_ID, id},
               {CKA_SUBJECT, subject},                {CKA_DERIVE, BoolBytes(false)}};
  if (cls == CKO_PUBLIC_KEY) {
    tmpl[CKA_PRIVATE] = BoolBytes(false);
    tmpl[CKA_ENCRYPT] = BoolBytes(false);
    tmpl[CKA_WRAP] = BoolBytes(false);
    tmpl[CKA_VERIFY] = BoolBytes(true);
    tmpl[CKA_VERIFY_RECOVER] = BoolBytes(false);
  } else {
    tmpl[CKA_PRIVATE] = BoolBytes(true);
    tmpl[CKA_SIGN] = BoolBytes(true);
    tmpl[CKA_SIGN_RECOVER] = BoolBytes(false);
    tmpl[CKA_DECRYPT] = BoolBytes(false);  // CSC signs hashes; it never decrypts
    tmpl[CKA_UNWRAP] = BoolBytes(false);
    tmpl[CKA_SENSITIVE] = BoolBytes(true);
    tmpl[CKA_EXTRACTABLE] = BoolBytes(false);
    tmpl[CKA_ALWAYS_AUTHENTICATE] = BoolBytes(always_authenticate);
  }
  NewObject o = VT_TRY(BuildGeneratedKey(cls, tmpl, key, CK_UNAVAILABLE_INFORMATION));
  // Generated in the service's HSM, not on this token by a PKCS#11 mechanism.
  o.attrs[CKA_LOCAL] = BoolBytes(false);
  o.attrs[CKA_KEY_GEN_MECHANISM] = UlongBytes(CK_UNAVAILABLE_INFORMATION);
  return o;
}

std::string LabelOf(const csc::CredentialInfo& c) {
  if (!c.description.empty()) return c.description.substr(0, 128);
  return c.id.substr(0, 128);
}

Result<std::vector<CloudObject>> ForCredential(const csc::CredentialInfo& c, const ObjectOptions& options,
                                               std::set<wire::Bytes>& chain_seen) {
  if (c.certificates.empty()) return Fail(CKR_DEVICE_ERROR, "no certificate");
  const std::string label = LabelOf(c);
  NewObject cert = VT_TRY(Certificate(c.certificates[0], label, 1 /* token user */));
  auto fields = VT_TRY(ParseCertificate(c.certificates[0]));
  if (!fields.public_key) return Fail(CKR_DEVICE_ERROR, "the certificate's public key cannot be read");
  auto pub_attrs = VT_TRY(PublicKeyAttributes(fields.public_key.get()));
  const wire::Bytes id = pub_attrs[CKA_ID];
  cert.attrs[CKA_ID] = id;
  const bool always = AlwaysAuthenticates(options, c.id);
  NewObject pub = VT_TRY(Key(CKO_PUBLIC_KEY, fields.public_key.get(), id, fields.subject, label, false));
  NewObject priv = VT_TRY(Key(CKO_PRIVATE_KEY, fields.public_key.get(), id, fields.subject, label, always));
  std::vector<CloudObject> out;
  out.push_back({c.id + "/cert", c.id, View(cert, false)});
  out.push_back({c.id + "/pub", c.id, View(pub, false)});
  out.push_back({c.id + "/priv", c.id, View(priv, true)});
  for (std::size_t i = 1; i < c.certificates.size(); ++i) {
    const wire::Bytes& der = c.certificates[i];
    if (!chain_seen.insert(der).second) continue;
    auto ca = Certificate(der, "CA certificate", 2 /* authority */);
    if (!ca) continue;  // a chain certificate we cannot show is left out, the key still works
    const wire::Bytes sha = Sha1(der);
    out.push_back({"ca/" + HexEncode(sha), "", View(*ca, false)});
  }
  return out;
}

}  // namespace

bool AlwaysAuthenticates(const ObjectOptions& options, const std::string& credential_id) {
  return options.always_authenticate || options.always_authenticate_credentials.contains(credential_id);
}

std::vector<CloudObject> BuildCloudObjects(const std::vector<csc::CredentialInfo>& credentials,
                                           const ObjectOptions& options, std::vector<std::string>& skipped) {
  std::vector<CloudObject> out;
  std::set<wire::Bytes> chain_seen;
  for (const auto& c : credentials) {
    auto objects = ForCredential(c, options, chain_seen);
    if (!objects) {
      skipped.push_back("credential " + c.id + ": " + objects.error().message);
      continue;
    }
    for (auto& o : *objects) out.push_back(std::move(o));
  }
  return out;
}

}  // namespace vtoken::agent::cloud
