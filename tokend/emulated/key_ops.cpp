// Key pair generation, signing and decryption of EmulatedToken. The token
// mutex is held only to find the key; the RSA/EC operation runs outside it
// on the cached EVP_PKEY (one EVP_PKEY_CTX per call), so threads sign in
// parallel.
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <p11-kit/pkcs11.h>

#include "tokend/emulated/emulated_token.h"
#include "tokend/emulated/object_attributes.h"
#include "tokend/emulated/token_impl.h"

namespace vtoken::agent {
namespace {

using EcdsaSig = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

const EVP_MD* HashMd(unsigned long mechanism) {
  switch (mechanism) {
    case CKM_SHA_1: return EVP_sha1();
    case CKM_SHA224: return EVP_sha224();
    case CKM_SHA256: return EVP_sha256();
    case CKM_SHA384: return EVP_sha384();
    case CKM_SHA512: return EVP_sha512();
    default: return nullptr;
  }
}

const EVP_MD* MgfMd(unsigned long mgf) {
  switch (mgf) {
    case CKG_MGF1_SHA1: return EVP_sha1();
    case CKG_MGF1_SHA224: return EVP_sha224();
    case CKG_MGF1_SHA256: return EVP_sha256();
    case CKG_MGF1_SHA384: return EVP_sha384();
    case CKG_MGF1_SHA512: return EVP_sha512();
    default: return nullptr;
  }
}

Result<wire::Bytes> EvpSign(EVP_PKEY_CTX* ctx, const wire::Bytes& data, std::size_t max_len) {
  wire::Bytes sig(max_len);
  std::size_t len = sig.size();
  if (EVP_PKEY_sign(ctx, sig.data(), &len, data.data(), data.size()) != 1)
    return Fail(CKR_FUNCTION_FAILED, "signature operation failed");
  sig.resize(len);
  return sig;
}

Result<wire::Bytes> SignRsa(EVP_PKEY* key, unsigned long mechanism, const MechanismParams& params,
                            const wire::Bytes& data) {
  const std::size_t k = static_cast<std::size_t>(EVP_PKEY_get_size(key));
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1) return Fail(CKR_FUNCTION_FAILED, "cannot start an RSA signature");
  if (mechanism == CKM_RSA_PKCS) {
    // No digest set: OpenSSL pads the input as it is (EMSA-PKCS1-v1_5 type 1).
    if (data.empty() || data.size() > k - 11) return Fail(CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS input longer than k-11");
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
      return Fail(CKR_FUNCTION_FAILED, "cannot set PKCS#1 padding");
    return EvpSign(ctx.get(), data, k);
  }
  const EVP_MD* md = HashMd(params.hash);
  if (!md) return Fail(CKR_MECHANISM_PARAM_INVALID, "unsupported PSS hash");
  if (MgfMd(params.mgf) != md) return Fail(CKR_MECHANISM_PARAM_INVALID, "PSS MGF1 hash must match the hash");
  const std::size_t hlen = static_cast<std::size_t>(EVP_MD_get_size(md));
  const std::size_t em_len = (static_cast<std::size_t>(EVP_PKEY_get_bits(key)) - 1 + 7) / 8;
  if (em_len < hlen + 2 || params.salt_len > em_len - hlen - 2)
    return Fail(CKR_MECHANISM_PARAM_INVALID, "PSS salt too long for this key");
  if (data.size() != hlen) return Fail(CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS_PSS input must be one hash");
  if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1 ||
      EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), static_cast<int>(params.salt_len)) != 1)
    return Fail(CKR_MECHANISM_PARAM_INVALID, "PSS parameters refused");
  return EvpSign(ctx.get(), data, k);
}

Result<wire::Bytes> SignEcdsa(EVP_PKEY* key, const wire::Bytes& data) {
  if (data.empty()) return Fail(CKR_DATA_LEN_RANGE, "CKM_ECDSA needs a hash to sign");
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1) return Fail(CKR_FUNCTION_FAILED, "cannot start an ECDSA signature");
  const wire::Bytes der = VT_TRY(EvpSign(ctx.get(), data, static_cast<std::size_t>(EVP_PKEY_get_size(key))));
  const unsigned char* p = der.data();
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return Fail(CKR_FUNCTION_FAILED, "ECDSA signature does not decode");
  // PKCS#11 wants r || s, each exactly as long as the group order.
  const int n = (EVP_PKEY_get_bits(key) + 7) / 8;
  wire::Bytes out(2 * static_cast<std::size_t>(n));
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out.data(), n) != n ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out.data() + n, n) != n)
    return Fail(CKR_FUNCTION_FAILED, "ECDSA signature too long");
  return out;
}

Result<SecureBytes> DecryptRsa(EVP_PKEY* key, unsigned long mechanism, const MechanismParams& params,
                               const wire::Bytes& data) {
  const std::size_t k = static_cast<std::size_t>(EVP_PKEY_get_size(key));
  if (data.size() != k) return Fail(CKR_ENCRYPTED_DATA_LEN_RANGE, "ciphertext must be as long as the modulus");
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1) return Fail(CKR_FUNCTION_FAILED, "cannot start RSA decryption");
  if (mechanism == CKM_RSA_PKCS) {
    // PKCS#11 reports bad padding (CKR_ENCRYPTED_DATA_INVALID): turn off the
    // implicit rejection newer OpenSSL releases do (ignored where absent).
    unsigned int implicit = 0;
    OSSL_PARAM ps[] = {OSSL_PARAM_construct_uint("implicit-rejection", &implicit), OSSL_PARAM_construct_end()};
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
      return Fail(CKR_FUNCTION_FAILED, "cannot set PKCS#1 padding");
    EVP_PKEY_CTX_set_params(ctx.get(), ps);
  } else {
    const EVP_MD* md = HashMd(params.hash);
    const EVP_MD* mgf = MgfMd(params.mgf);
    if (!md || !mgf) return Fail(CKR_MECHANISM_PARAM_INVALID, "unsupported OAEP hash or MGF");
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), mgf) != 1)
      return Fail(CKR_MECHANISM_PARAM_INVALID, "OAEP parameters refused");
    if (!params.oaep_label.empty()) {
      auto label = static_cast<unsigned char*>(OPENSSL_memdup(params.oaep_label.data(), params.oaep_label.size()));
      if (!label || EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, static_cast<int>(params.oaep_label.size())) != 1) {
        OPENSSL_free(label);
        return Fail(CKR_MECHANISM_PARAM_INVALID, "OAEP label refused");
      }
    }
  }
  SecureBytes out(k);
  std::size_t len = out.size();
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, data.data(), data.size()) != 1)
    return Fail(CKR_ENCRYPTED_DATA_INVALID, "ciphertext does not decrypt");
  out.resize(len);
  return out;
}

}  // namespace

Result<std::pair<SharedKey, unsigned long>> EmulatedToken::Impl::UsableKey(std::uint64_t oid, unsigned long usage,
                                                                         std::uint64_t owner) {
  Object* o = FindVisible(oid, true, owner);
  if (!o) return Fail(CKR_KEY_HANDLE_INVALID, "no such key");
  const auto cls = GetUlong(o->attrs, CKA_CLASS);
  if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY) return Fail(CKR_KEY_HANDLE_INVALID, "object is not a key");
  if (!GetBool(o->attrs, usage).value_or(false))
    return Fail(CKR_KEY_FUNCTION_NOT_PERMITTED, usage == CKA_SIGN ? "key may not sign" : "key may not decrypt");
  SharedKey key = VT_TRY(PrivateKey(*o));
  return std::pair{std::move(key), GetUlong(o->attrs, CKA_KEY_TYPE).value_or(CK_UNAVAILABLE_INFORMATION)};
}

Result<std::pair<ObjectView, ObjectView>> EmulatedToken::GenerateKeyPair(unsigned long mechanism,
                                                                         const wire::Attributes& public_attrs,
                                                                         const wire::Attributes& private_attrs,
                                                                         std::uint64_t owner) {
  if (mechanism != CKM_RSA_PKCS_KEY_PAIR_GEN && mechanism != CKM_EC_KEY_PAIR_GEN)
    return Fail(CKR_MECHANISM_INVALID, "only RSA and EC key pairs can be generated");
  AttrMap pub = VT_TRY(ParseTemplate(public_attrs));
  AttrMap priv = VT_TRY(ParseTemplate(private_attrs));
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->token_key) return Fail(CKR_USER_NOT_LOGGED_IN, "key generation needs the user logged in");
  }
  // One CKA_ID for both halves when only one template names it.
  if (pub.contains(CKA_ID) && !priv.contains(CKA_ID)) priv[CKA_ID] = pub[CKA_ID];
  if (priv.contains(CKA_ID) && !pub.contains(CKA_ID)) pub[CKA_ID] = priv[CKA_ID];
  ossl::PKey key;
  if (mechanism == CKM_RSA_PKCS_KEY_PAIR_GEN) {
    auto bits = GetUlong(pub, CKA_MODULUS_BITS);
    if (!bits) bits = GetUlong(priv, CKA_MODULUS_BITS);
    if (!bits) return Fail(CKR_TEMPLATE_INCOMPLETE, "template lacks CKA_MODULUS_BITS");
    if (*bits != 2048 && *bits != 3072 && *bits != 4096)
      return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "RSA keys are 2048, 3072 or 4096 bits");
    key = VT_TRY(GenerateRsaKey(*bits, GetValue(pub, CKA_PUBLIC_EXPONENT)));
  } else {
    const wire::Bytes* params = GetValue(pub, CKA_EC_PARAMS);
    if (!params) params = GetValue(priv, CKA_EC_PARAMS);
    if (!params) return Fail(CKR_TEMPLATE_INCOMPLETE, "template lacks CKA_EC_PARAMS");
    const std::string curve = VT_TRY(CurveFromEcParams(*params));
    if (curve != "prime256v1" && curve != "secp384r1")
      return Fail(CKR_ATTRIBUTE_VALUE_INVALID, "EC keys are P-256 or P-384");
    key = VT_TRY(GenerateEcKey(curve));
  }
  NewObject pub_obj = VT_TRY(BuildGeneratedKey(CKO_PUBLIC_KEY, pub, key.get(), mechanism));
  NewObject priv_obj = VT_TRY(BuildGeneratedKey(CKO_PRIVATE_KEY, priv, key.get(), mechanism));
  std::vector<std::pair<Object, SharedKey>> items;
  for (NewObject* built : {&pub_obj, &priv_obj}) {
    Object o;
    o.attrs = std::move(built->attrs);
    o.sensitive = std::move(built->sensitive);
    o.is_token = *GetBool(o.attrs, CKA_TOKEN);
    o.is_private = *GetBool(o.attrs, CKA_PRIVATE);
    o.owner = o.is_token ? 0 : owner;
    items.emplace_back(std::move(o), nullptr);
  }
  items[1].second = ShareKey(std::move(key));
  std::lock_guard lock(impl_->mu);
  if (!impl_->token_key) return Fail(CKR_USER_NOT_LOGGED_IN, "key generation needs the user logged in");
  auto views = VT_TRY(impl_->Insert(std::move(items)));
  return std::pair{std::move(views[0]), std::move(views[1])};
}

Result<wire::Bytes> EmulatedToken::Sign(std::uint64_t oid, unsigned long mechanism, const MechanismParams& params,
                                        const wire::Bytes& data, std::uint64_t owner) {
  unsigned long want;
  switch (mechanism) {
    case CKM_RSA_PKCS: case CKM_RSA_PKCS_PSS: want = CKK_RSA; break;
    case CKM_ECDSA: want = CKK_EC; break;
    default: return Fail(CKR_MECHANISM_INVALID, "sign supports CKM_RSA_PKCS, CKM_RSA_PKCS_PSS and CKM_ECDSA");
  }
  std::pair<SharedKey, unsigned long> ref;
  {
    std::lock_guard lock(impl_->mu);
    ref = VT_TRY(impl_->UsableKey(oid, CKA_SIGN, owner));
  }
  // The operation itself runs unlocked; `ref` keeps the key alive past a Lock().
  if (ref.second != want) return Fail(CKR_KEY_TYPE_INCONSISTENT, "mechanism does not fit the key type");
  if (want == CKK_EC) return SignEcdsa(ref.first.get(), data);
  return SignRsa(ref.first.get(), mechanism, params, data);
}

Result<SecureBytes> EmulatedToken::Decrypt(std::uint64_t oid, unsigned long mechanism, const MechanismParams& params,
                                           const wire::Bytes& data, std::uint64_t owner) {
  if (mechanism != CKM_RSA_PKCS && mechanism != CKM_RSA_PKCS_OAEP)
    return Fail(CKR_MECHANISM_INVALID, "decrypt supports CKM_RSA_PKCS and CKM_RSA_PKCS_OAEP");
  std::pair<SharedKey, unsigned long> ref;
  {
    std::lock_guard lock(impl_->mu);
    ref = VT_TRY(impl_->UsableKey(oid, CKA_DECRYPT, owner));
  }
  if (ref.second != CKK_RSA) return Fail(CKR_KEY_TYPE_INCONSISTENT, "mechanism needs an RSA key");
  return DecryptRsa(ref.first.get(), mechanism, params, data);
}

}  // namespace vtoken::agent
