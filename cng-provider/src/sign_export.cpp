// NCryptExportKey (public halves only) and NCryptSignHash.
#include <p11-kit/pkcs11.h>

#include <cstring>

#include "cng-provider/src/log.h"
#include "cng-provider/src/provider.h"
#include "cng-provider/src/wide.h"

namespace vtoken::ksp {
namespace {

constexpr std::size_t kMaxEcHash = 128;

template <class T>
void Append(ByteVec& out, const T& pod) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&pod);
  out.insert(out.end(), p, p + sizeof pod);
}

ByteVec LeftPad(const ByteVec& v, std::size_t n) {
  ByteVec out(n > v.size() ? n - v.size() : 0, 0);
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

ByteVec RsaPublicBlob(const KeyInfo& k) {
  BCRYPT_RSAKEY_BLOB h{};
  h.Magic = BCRYPT_RSAPUBLIC_MAGIC;
  h.BitLength = k.bits;
  h.cbPublicExp = static_cast<ULONG>(k.exponent.size());
  h.cbModulus = static_cast<ULONG>(k.modulus.size());
  ByteVec out;
  Append(out, h);
  out.insert(out.end(), k.exponent.begin(), k.exponent.end());
  out.insert(out.end(), k.modulus.begin(), k.modulus.end());
  return out;
}

ByteVec EccPublicBlob(const KeyInfo& k) {
  BCRYPT_ECCKEY_BLOB h{};
  h.dwMagic = k.curve->public_magic;
  h.cbKey = static_cast<ULONG>(k.curve->field_bytes);
  ByteVec out;
  Append(out, h);
  const ByteVec x = LeftPad(k.ec_x, k.curve->field_bytes), y = LeftPad(k.ec_y, k.curve->field_bytes);
  out.insert(out.end(), x.begin(), x.end());
  out.insert(out.end(), y.begin(), y.end());
  return out;
}

// CryptoAPI's PUBLICKEYBLOB: PUBLICKEYSTRUC, RSAPUBKEY, then the modulus little-endian.
KspResult<ByteVec> LegacyRsaPublicBlob(const KeyInfo& k) {
  if (k.exponent.size() > 4) return KspFail(Status::kNotSupported, "the public exponent does not fit a CAPI blob");
  PUBLICKEYSTRUC h{};
  h.bType = PUBLICKEYBLOB;
  h.bVersion = CUR_BLOB_VERSION;
  h.aiKeyAlg = CALG_RSA_SIGN;
  RSAPUBKEY r{};
  r.magic = 0x31415352;  // "RSA1"
  r.bitlen = k.bits;
  for (auto b : k.exponent) r.pubexp = r.pubexp << 8 | b;
  ByteVec out;
  Append(out, h);
  Append(out, r);
  const ByteVec n = LeftPad(k.modulus, (k.bits + 7) / 8);
  out.insert(out.end(), n.rbegin(), n.rend());
  return out;
}

struct SignRequest {
  unsigned long mechanism = 0;
  ByteVec data;
  Json params;  // null when the mechanism takes none
};

KspResult<SignRequest> BuildSignRequest(const KeyInfo& k, const void* padding, std::span<const std::uint8_t> hash, DWORD flags) {
  SignRequest r;
  const DWORD pad = flags & (BCRYPT_PAD_PKCS1 | BCRYPT_PAD_PSS);
  if (k.kind == KeyKind::kEc) {
    if (pad) return KspFail(Status::kBadFlags, "ECDSA keys take no padding flags");
    if (hash.size() > kMaxEcHash) return KspFail(Status::kInvalidParameter, "hash longer than any hash");
    r.mechanism = CKM_ECDSA;
    r.data.assign(hash.begin(), hash.end());
    return r;
  }
  const std::size_t k_bytes = (k.bits + 7) / 8;
  if (pad == (BCRYPT_PAD_PKCS1 | BCRYPT_PAD_PSS)) return KspFail(Status::kBadFlags, "BCRYPT_PAD_PKCS1 and BCRYPT_PAD_PSS together");
  if (!pad) return KspFail(Status::kInvalidParameter, "an RSA signature needs BCRYPT_PAD_PKCS1 or BCRYPT_PAD_PSS");
  if (!padding) return KspFail(Status::kInvalidParameter, "pPaddingInfo is NULL");
  if (pad == BCRYPT_PAD_PKCS1) {
    const auto* info = static_cast<const BCRYPT_PKCS1_PADDING_INFO*>(padding);
    r.mechanism = CKM_RSA_PKCS;
    if (!info->pszAlgId) {
      r.data.assign(hash.begin(), hash.end());  // raw: the caller built the DigestInfo (or TLS's MD5||SHA-1)
    } else {
      const HashAlg* alg = FindHashAlg(info->pszAlgId);
      if (!alg) return KspFail(Status::kNotSupported, "hash algorithm '" + Narrow(info->pszAlgId) + "' is not supported");
      if (hash.size() != alg->length) return KspFail(Status::kInvalidParameter, "the hash length does not match " + Narrow(info->pszAlgId));
      r.data = DigestInfo(*alg, hash);
    }
    if (r.data.size() + 11 > k_bytes) return KspFail(Status::kInvalidParameter, "input too long for PKCS#1 v1.5 with this key");
    return r;
  }
  const auto* info = static_cast<const BCRYPT_PSS_PADDING_INFO*>(padding);
  if (!info->pszAlgId) return KspFail(Status::kInvalidParameter, "PSS needs pszAlgId");
  const HashAlg* alg = FindHashAlg(info->pszAlgId);
  if (!alg || !alg->ckm) return KspFail(Status::kNotSupported, "hash algorithm '" + Narrow(info->pszAlgId) + "' is not supported with PSS");
  if (hash.size() != alg->length) return KspFail(Status::kInvalidParameter, "the hash length does not match " + Narrow(info->pszAlgId));
  const std::size_t em_len = (k.bits - 1 + 7) / 8;
  if (std::size_t{info->cbSalt} + alg->length + 2 > em_len) return KspFail(Status::kInvalidParameter, "PSS salt too long for this key");
  r.mechanism = CKM_RSA_PKCS_PSS;
  r.data.assign(hash.begin(), hash.end());
  r.params = Json{{"hash", alg->ckm}, {"mgf", alg->mgf}, {"salt_len", info->cbSalt}};
  return r;
}

}  // namespace

KspResult<void> Ksp::ExportKey(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, NCRYPT_KEY_HANDLE h_export, LPCWSTR blob_type,
                               NCryptBufferDesc* /*params*/, PBYTE out, DWORD cb_out, DWORD* pcb, DWORD flags) {
  auto key = VT_TRY(Key(hp, hk));
  if (flags & ~DWORD{NCRYPT_SILENT_FLAG}) return KspFail(Status::kBadFlags, "ExportKey takes only NCRYPT_SILENT_FLAG");
  if (!blob_type || !pcb) return KspFail(Status::kInvalidParameter, "pszBlobType or pcbResult is NULL");
  if (h_export) return KspFail(Status::kNotSupported, "keys are exported only as plain public blobs");
  const KeyInfo& k = key->info;
  const bool rsa = k.kind == KeyKind::kRsa;
  const std::wstring_view type(blob_type);
  if (type == BCRYPT_PUBLIC_KEY_BLOB) return CopyOut(rsa ? RsaPublicBlob(k) : EccPublicBlob(k), out, cb_out, pcb);
  if (type == BCRYPT_RSAPUBLIC_BLOB) {
    if (!rsa) return KspFail(Status::kBadType, "an EC key has no RSA blob");
    return CopyOut(RsaPublicBlob(k), out, cb_out, pcb);
  }
  if (type == BCRYPT_ECCPUBLIC_BLOB) {
    if (rsa) return KspFail(Status::kBadType, "an RSA key has no ECC blob");
    return CopyOut(EccPublicBlob(k), out, cb_out, pcb);
  }
  if (type == LEGACY_RSAPUBLIC_BLOB) {
    if (!rsa) return KspFail(Status::kBadType, "an EC key has no CAPI RSA blob");
    return CopyOut(VT_TRY(LegacyRsaPublicBlob(k)), out, cb_out, pcb);
  }
  return KspFail(Status::kNotSupported, "blob type '" + Narrow(type) + "': only public blobs; private keys never leave the token");
}

KspResult<void> Ksp::EnsureLoggedIn(KeyState& key, bool silent) {
  AgentConnection& agent = Agent();
  if (agent.LoggedIn(key.info.slot_id)) return {};
  std::optional<Secret> pin;
  {
    std::lock_guard lock(key.mu);
    pin = key.pin;
  }
  if (!pin) {
    std::lock_guard lock(key.provider_state->mu);
    pin = key.provider_state->pin;
  }
  if (pin) return agent.Login(key.info.slot_id, CKU_USER, &*pin, silent);
  // The agent prompts, if it can; silent: it says whether it would have had
  // to (an emulated token's PIN) or not (a cloud token: its login needs no PIN).
  return agent.Login(key.info.slot_id, CKU_USER, nullptr, silent);
}

KspResult<void> Ksp::SignHash(NCRYPT_PROV_HANDLE hp, NCRYPT_KEY_HANDLE hk, const void* padding, const BYTE* hash, DWORD cb_hash,
                              PBYTE signature, DWORD cb_signature, DWORD* pcb, DWORD flags) {
  auto key = VT_TRY(Key(hp, hk));
  if (flags & ~DWORD{BCRYPT_PAD_PKCS1 | BCRYPT_PAD_PSS | NCRYPT_SILENT_FLAG}) {
    if (flags & BCRYPT_PAD_NONE) return KspFail(Status::kNotSupported, "raw RSA (BCRYPT_PAD_NONE) is not offered");
    return KspFail(Status::kBadFlags, "SignHash takes BCRYPT_PAD_PKCS1, BCRYPT_PAD_PSS and NCRYPT_SILENT_FLAG");
  }
  if (!pcb) return KspFail(Status::kInvalidParameter, "pcbResult is NULL");
  if (!hash || cb_hash == 0) return KspFail(Status::kInvalidParameter, "pbHashValue is NULL or empty");
  const KeyInfo& k = key->info;
  const SignRequest request = VT_TRY(BuildSignRequest(k, padding, {hash, cb_hash}, flags));
  const std::size_t size = k.SignatureBytes();
  *pcb = static_cast<DWORD>(size);
  if (!signature) return {};  // a size query never reaches the agent
  if (cb_signature < size) return KspFail(Status::kBufferTooSmall, std::to_string(size) + " bytes needed");

  const bool silent = (flags & NCRYPT_SILENT_FLAG) || key->silent || key->provider_state->silent;
  AgentConnection& agent = Agent();
  for (int attempt = 0;; ++attempt) {
    VT_CHECK(EnsureLoggedIn(*key, silent));
    std::uint64_t oid = 0;
    bool always_auth = false;
    {
      std::lock_guard lock(key->mu);
      if (key->private_oid) {
        oid = *key->private_oid;
        always_auth = key->always_authenticate;
      }
    }
    if (!oid) {
      oid = VT_TRY(FindPrivateKey(agent, k, &always_auth));
      std::lock_guard lock(key->mu);
      key->private_oid = oid;
      key->always_authenticate = always_auth;
    }
    if (always_auth) {  // a code (cloud) or the PIN again for each signature
      std::optional<Secret> pin;
      {
        std::lock_guard lock(key->mu);
        pin = key->pin;
      }
      VT_CHECK(agent.Login(k.slot_id, CKU_CONTEXT_SPECIFIC, pin ? &*pin : nullptr, silent));
    }
    Json sign{{"op", "sign"}, {"slot_id", k.slot_id}, {"oid", oid}, {"mechanism", request.mechanism}, {"data", wire::Binary(request.data)}};
    if (!request.params.is_null()) sign["params"] = request.params;
    // A cloud signature's code: from a source that needs nobody (code command,
    // open SCAL1 window), else kCkrPromptRequired -> NTE_SILENT_CONTEXT.
    if (silent) sign["no_prompt"] = true;
    auto reply = VT_TRY(agent.CallRaw(std::move(sign)));
    if (!reply) {
      const unsigned long rv = reply.error().rv;
      if (attempt == 0 && rv == CKR_USER_NOT_LOGGED_IN) {  // login lost (unplug, another app's logout): once more
        agent.ForgetLogin(k.slot_id);
        continue;
      }
      if (attempt == 0 && (rv == CKR_OBJECT_HANDLE_INVALID || rv == CKR_KEY_HANDLE_INVALID)) {
        std::lock_guard lock(key->mu);
        key->private_oid.reset();
        continue;
      }
      return std::unexpected(FromAgent(reply.error()));
    }
    auto bytes = wire::GetBytes(*reply, "signature");
    if (!bytes) return KspFail(Status::kInternal, "the agent's sign reply has no signature");
    if (bytes->size() != size)
      return KspFail(Status::kInternal, "the agent returned a " + std::to_string(bytes->size()) + "-byte signature, expected " + std::to_string(size));
    std::memcpy(signature, bytes->data(), size);
    return {};
  }
}

}  // namespace vtoken::ksp
