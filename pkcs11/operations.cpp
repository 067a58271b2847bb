// Cryptographic operations: C_Sign*, C_Verify*, C_Digest*, C_Decrypt*.
// Hashing happens here (OpenSSL); the agent only ever signs a DigestInfo or a
// hash with the raw mechanism, and decrypts. Verification is local, with the
// public key rebuilt from cached attributes. Errors end the operation, except
// a length query and CKR_BUFFER_TOO_SMALL (buffer.h) and calling the
// single-part function after an Update (CKR_OPERATION_ACTIVE).
#include "pkcs11/api.h"
#include "pkcs11/buffer.h"
#include "pkcs11/mechanisms.h"
#include "pkcs11/provider.h"

namespace vtoken::pkcs11 {
namespace {

struct MechanismChoice {
  const MechanismSpec* spec = nullptr;
  std::optional<PssParams> pss;
};

Result<MechanismChoice> CheckMechanism(const CK_MECHANISM* m, CK_FLAGS usage) {
  if (m == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pMechanism is NULL");
  const MechanismSpec* spec = FindMechanism(m->mechanism);
  if (spec == nullptr || !(spec->flags & usage)) return Fail(CKR_MECHANISM_INVALID, "mechanism not offered for this use");
  if (m->pParameter == nullptr && m->ulParameterLen != 0) return Fail(CKR_ARGUMENTS_BAD, "pParameter is NULL");
  MechanismChoice choice{spec, std::nullopt};
  if (spec->raw == CKM_RSA_PKCS_PSS) {
    if (m->pParameter == nullptr || m->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
      return Fail(CKR_MECHANISM_PARAM_INVALID, "PSS needs CK_RSA_PKCS_PSS_PARAMS");
    const auto* params = static_cast<const CK_RSA_PKCS_PSS_PARAMS*>(m->pParameter);
    if (DigestFor(params->hashAlg) == nullptr) return Fail(CKR_MECHANISM_PARAM_INVALID, "unsupported PSS hash");
    if (spec->hash != 0 && params->hashAlg != spec->hash)
      return Fail(CKR_MECHANISM_PARAM_INVALID, "PSS hashAlg does not match the mechanism's hash");
    if (HashOfMgf(params->mgf) == CKM_VENDOR_DEFINED) return Fail(CKR_MECHANISM_PARAM_INVALID, "unsupported MGF");
    choice.pss = PssParams{params->hashAlg, params->mgf, params->sLen};
  } else if (spec->raw != CKM_RSA_PKCS_OAEP && m->ulParameterLen != 0) {
    return Fail(CKR_MECHANISM_PARAM_INVALID, "this mechanism takes no parameter");
  }
  return choice;
}

Result<void> CheckKey(const Object& key, const MechanismSpec& spec, bool allow_public, CK_ATTRIBUTE_TYPE usage) {
  const CK_OBJECT_CLASS cls = key.Class();
  if (cls != CKO_PRIVATE_KEY && !(allow_public && cls == CKO_PUBLIC_KEY))
    return Fail(CKR_KEY_TYPE_INCONSISTENT, "the key's class does not fit the operation");
  if (key.KeyType() != spec.key_type) return Fail(CKR_KEY_TYPE_INCONSISTENT, "the key's type does not fit the mechanism");
  // A private key used for verification is checked by its public half.
  if (!(allow_public && cls == CKO_PRIVATE_KEY) && !key.Bool(usage, true))
    return Fail(CKR_KEY_FUNCTION_NOT_PERMITTED, "the key does not permit this operation");
  return {};
}

Result<void> CheckPssSalt(const std::optional<PssParams>& pss, const KeyShape& shape) {
  if (!pss) return {};
  const CK_ULONG em_len = (shape.bits + 6) / 8;
  if (pss->salt_len + DigestLength(pss->hash) + 2 > em_len)
    return Fail(CKR_MECHANISM_PARAM_INVALID, "PSS salt too long for the key");
  return {};
}

Result<void> StartOperation(Session& s, Operation op) {
  std::lock_guard lock(s.mutex);
  if (!std::holds_alternative<std::monostate>(s.op)) return Fail(CKR_OPERATION_ACTIVE, "another operation is active");
  s.op = std::move(op);
  return {};
}

bool EndsOperation(const Error& e) { return ErrorEndsOperation(e) && e.rv != CKR_OPERATION_ACTIVE; }

// Runs `body` on the session's active Op. body returns true when the
// operation is complete, false when it continues (update, length query).
template <class Op, class F>
Result<void> RunOperation(Session& s, F&& body) {
  std::lock_guard lock(s.mutex);
  Op* op = std::get_if<Op>(&s.op);
  if (op == nullptr) return Fail(CKR_OPERATION_NOT_INITIALIZED, "no such operation is active");
  Result<bool> r = body(*op);
  if (!r) {
    if (EndsOperation(r.error())) s.op = std::monostate{};
    return std::unexpected(r.error());
  }
  if (*r) s.op = std::monostate{};
  return {};
}

Result<void> Feed(MultipartInput& in, std::span<const std::uint8_t> data) {
  if (in.md) {
    if (!data.empty() && EVP_DigestUpdate(in.md.get(), data.data(), data.size()) != 1)
      return Fail(CKR_FUNCTION_FAILED, "EVP_DigestUpdate failed");
    return {};
  }
  if (in.buffer.size() + data.size() > kMaxBufferedInput) return Fail(CKR_DATA_LEN_RANGE, "input too long");
  in.buffer.insert(in.buffer.end(), data.begin(), data.end());
  return {};
}

// C_SignUpdate, C_VerifyUpdate and C_DigestUpdate: one more part of the input.
template <class Op>
Result<void> UpdateOperation(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<Op>(*s, [&](Op& op) -> Result<bool> {
    auto data = VT_TRY(InputBytes(pPart, ulPartLen, "pPart"));
    op.multipart = true;
    VT_CHECK(Feed(op, data));
    return false;
  });
}

// The start of C_SignInit and C_VerifyInit: a usable key for the mechanism.
Result<std::shared_ptr<const Object>> KeyForOperation(Provider& p, Session& s, const MechanismChoice& choice,
                                                      CK_OBJECT_HANDLE hKey, bool verify) {
  {
    std::lock_guard lock(s.mutex);
    if (!std::holds_alternative<std::monostate>(s.op)) return Fail(CKR_OPERATION_ACTIVE, "another operation is active");
  }
  auto key = VT_TRY(p.objects.Get(s.slot, hKey, CKR_KEY_HANDLE_INVALID));
  VT_CHECK(CheckKey(*key, *choice.spec, verify, verify ? CKA_VERIFY : CKA_SIGN));
  return key;
}

Result<void> SetUpMechanism(SignatureMechanism& op, const MechanismChoice& choice, const Object& key) {
  op.mechanism = choice.spec->type;
  op.raw = choice.spec->raw;
  op.hash = choice.spec->hash;
  op.pss = choice.pss;
  op.shape = VT_TRY(ShapeOf(key));
  VT_CHECK(CheckPssSalt(op.pss, op.shape));
  if (op.hash != 0) op.md = VT_TRY(NewDigest(op.hash));
  return {};
}

// What the raw mechanism works on: DigestInfo or hash for hashing
// mechanisms, the buffered input (checked) for raw ones.
Result<wire::Bytes> ToBeSigned(SignatureMechanism& op) {
  if (op.hash != 0) {
    wire::Bytes digest = VT_TRY(FinishDigest(op.md.get()));
    return op.raw == CKM_RSA_PKCS ? DigestInfo(op.hash, digest) : digest;
  }
  if (op.raw == CKM_RSA_PKCS && op.buffer.size() + 11 > op.shape.signature_length)
    return Fail(CKR_DATA_LEN_RANGE, "input longer than k-11 bytes");
  if (op.raw == CKM_RSA_PKCS_PSS && op.buffer.size() != DigestLength(op.pss->hash))
    return Fail(CKR_DATA_LEN_RANGE, "PSS input must be a hash of the PSS hash's size");
  if (op.raw == CKM_ECDSA && (op.buffer.empty() || op.buffer.size() > 1024))
    return Fail(CKR_DATA_LEN_RANGE, "ECDSA input must be a hash");
  return std::move(op.buffer);
}

wire::Json PssJson(const PssParams& pss) {
  return wire::Json{{"hash", pss.hash}, {"mgf", pss.mgf}, {"salt_len", pss.salt_len}};
}

Result<bool> FinishSign(Provider& p, Session& s, SignOperation& op, CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
  if (op.needs_context_login && !op.context_logged_in)
    return Fail(CKR_USER_NOT_LOGGED_IN, "this key needs C_Login(CKU_CONTEXT_SPECIFIC) before each signature");
  wire::Bytes tbs = VT_TRY(ToBeSigned(op));
  wire::Json request{{"op", "sign"},
                     {"slot_id", s.slot},
                     {"oid", op.key->oid},
                     {"mechanism", op.raw},
                     {"data", wire::Binary(tbs)}};
  if (op.pss) request["params"] = PssJson(*op.pss);
  auto reply = VT_TRY(p.CallForSession(std::move(request)));
  wire::Bytes signature = VT_TRY(wire::GetBytes(reply, "signature"));
  if (signature.size() != op.shape.signature_length)
    return Fail(CKR_DEVICE_ERROR, "agent returned a signature of unexpected length");
  VT_TRY(CopyOutput(signature, out, out_len));
  return true;
}

Result<bool> FinishVerify(VerifyOperation& op, std::span<const std::uint8_t> signature) {
  wire::Bytes tbs = VT_TRY(ToBeSigned(op));
  VT_CHECK(VerifyRaw(op.public_key.get(), op.raw, op.pss, tbs, signature, op.shape.signature_length));
  return true;
}

Result<bool> FinishDecrypt(Provider& p, Session& s, DecryptOperation& op, std::span<const std::uint8_t> input,
                           CK_BYTE_PTR out, CK_ULONG_PTR out_len) {
  if (out_len == nullptr) return Fail(CKR_ARGUMENTS_BAD, "length pointer is NULL");
  if (!op.plaintext) {
    if (out == nullptr) {  // length query without a round trip: at most k bytes
      *out_len = op.shape.signature_length;
      return false;
    }
    if (op.needs_context_login && !op.context_logged_in)
      return Fail(CKR_USER_NOT_LOGGED_IN, "this key needs C_Login(CKU_CONTEXT_SPECIFIC) before each decryption");
    if (input.size() != op.shape.signature_length)
      return Fail(CKR_ENCRYPTED_DATA_LEN_RANGE, "ciphertext must be as long as the modulus");
    wire::Json request{{"op", "decrypt"},
                       {"slot_id", s.slot},
                       {"oid", op.key->oid},
                       {"mechanism", op.mechanism},
                       {"data", wire::Binary(input)}};
    if (!op.params.is_null()) request["params"] = op.params;
    auto reply = VT_TRY(p.CallForSession(std::move(request)));
    wire::WipeSecretsOnExit wipe(reply);
    wire::Bytes plain = VT_TRY(wire::GetBytes(reply, "plaintext"));
    op.plaintext.emplace(plain.begin(), plain.end());
    WipeMemory(plain.data(), plain.size());
  }
  auto copied = VT_TRY(CopyOutput(*op.plaintext, out, out_len));
  return copied == Output::kFits;
}

}  // namespace

// --- Signing ---------------------------------------------------------------

Result<void> SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  auto choice = VT_TRY(CheckMechanism(pMechanism, CKF_SIGN));
  auto key = VT_TRY(KeyForOperation(*p, *s, choice, hKey, false));
  if (key->IsPrivate() && !p->logins.UserLoggedIn(s->slot)) return Fail(CKR_USER_NOT_LOGGED_IN, "signing needs a user login");
  SignOperation op;
  VT_CHECK(SetUpMechanism(op, choice, *key));
  op.needs_context_login = key->Bool(CKA_ALWAYS_AUTHENTICATE, false);
  op.key = std::move(key);
  return StartOperation(*s, std::move(op));
}

Result<void> Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                  CK_ULONG_PTR pulSignatureLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<SignOperation>(*s, [&](SignOperation& op) -> Result<bool> {
    if (op.multipart) return Fail(CKR_OPERATION_ACTIVE, "C_SignUpdate was used; finish with C_SignFinal");
    auto data = VT_TRY(InputBytes(pData, ulDataLen, "pData"));
    if (VT_TRY(CheckOutput(op.shape.signature_length, pSignature, pulSignatureLen)) == Output::kLengthQuery) return false;
    VT_CHECK(Feed(op, data));
    return FinishSign(*p, *s, op, pSignature, pulSignatureLen);
  });
}

Result<void> SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  return UpdateOperation<SignOperation>(hSession, pPart, ulPartLen);
}

Result<void> SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<SignOperation>(*s, [&](SignOperation& op) -> Result<bool> {
    if (VT_TRY(CheckOutput(op.shape.signature_length, pSignature, pulSignatureLen)) == Output::kLengthQuery) return false;
    return FinishSign(*p, *s, op, pSignature, pulSignatureLen);
  });
}

// --- Verification (local) --------------------------------------------------

Result<void> VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  auto choice = VT_TRY(CheckMechanism(pMechanism, CKF_VERIFY));
  auto key = VT_TRY(KeyForOperation(*p, *s, choice, hKey, true));
  VerifyOperation op;
  VT_CHECK(SetUpMechanism(op, choice, *key));
  op.public_key = VT_TRY(PublicKeyOf(*key));
  return StartOperation(*s, std::move(op));
}

Result<void> Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                    CK_ULONG ulSignatureLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<VerifyOperation>(*s, [&](VerifyOperation& op) -> Result<bool> {
    if (op.multipart) return Fail(CKR_OPERATION_ACTIVE, "C_VerifyUpdate was used; finish with C_VerifyFinal");
    auto data = VT_TRY(InputBytes(pData, ulDataLen, "pData"));
    auto signature = VT_TRY(InputBytes(pSignature, ulSignatureLen, "pSignature"));
    if (pSignature == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pSignature is NULL");
    VT_CHECK(Feed(op, data));
    return FinishVerify(op, signature);
  });
}

Result<void> VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  return UpdateOperation<VerifyOperation>(hSession, pPart, ulPartLen);
}

Result<void> VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<VerifyOperation>(*s, [&](VerifyOperation& op) -> Result<bool> {
    if (pSignature == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pSignature is NULL");
    return FinishVerify(op, std::span<const std::uint8_t>(pSignature, ulSignatureLen));
  });
}

// --- Digests (local) -------------------------------------------------------

Result<void> DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  auto choice = VT_TRY(CheckMechanism(pMechanism, CKF_DIGEST));
  DigestOperation op;
  op.hash = choice.spec->hash;
  op.md = VT_TRY(NewDigest(op.hash));
  return StartOperation(*s, std::move(op));
}

Result<void> Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
                    CK_ULONG_PTR pulDigestLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<DigestOperation>(*s, [&](DigestOperation& op) -> Result<bool> {
    if (op.multipart) return Fail(CKR_OPERATION_ACTIVE, "C_DigestUpdate was used; finish with C_DigestFinal");
    auto data = VT_TRY(InputBytes(pData, ulDataLen, "pData"));
    if (VT_TRY(CheckOutput(DigestLength(op.hash), pDigest, pulDigestLen)) == Output::kLengthQuery) return false;
    VT_CHECK(Feed(op, data));
    VT_TRY(CopyOutput(VT_TRY(FinishDigest(op.md.get())), pDigest, pulDigestLen));
    return true;
  });
}

Result<void> DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  return UpdateOperation<DigestOperation>(hSession, pPart, ulPartLen);
}

Result<void> DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<DigestOperation>(*s, [&](DigestOperation& op) -> Result<bool> {
    if (VT_TRY(CheckOutput(DigestLength(op.hash), pDigest, pulDigestLen)) == Output::kLengthQuery) return false;
    VT_TRY(CopyOutput(VT_TRY(FinishDigest(op.md.get())), pDigest, pulDigestLen));
    return true;
  });
}

// --- Decryption (agent) ----------------------------------------------------

Result<void> DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  auto choice = VT_TRY(CheckMechanism(pMechanism, CKF_DECRYPT));
  DecryptOperation op;
  op.mechanism = choice.spec->type;
  if (op.mechanism == CKM_RSA_PKCS_OAEP) {
    if (pMechanism->pParameter == nullptr || pMechanism->ulParameterLen != sizeof(CK_RSA_PKCS_OAEP_PARAMS))
      return Fail(CKR_MECHANISM_PARAM_INVALID, "OAEP needs CK_RSA_PKCS_OAEP_PARAMS");
    const auto* params = static_cast<const CK_RSA_PKCS_OAEP_PARAMS*>(pMechanism->pParameter);
    if (DigestFor(params->hashAlg) == nullptr || HashOfMgf(params->mgf) == CKM_VENDOR_DEFINED)
      return Fail(CKR_MECHANISM_PARAM_INVALID, "unsupported OAEP hash or MGF");
    op.params = wire::Json{{"hash", params->hashAlg}, {"mgf", params->mgf}};
    if (params->source == CKZ_DATA_SPECIFIED && params->ulSourceDataLen != 0) {
      if (params->pSourceData == nullptr) return Fail(CKR_MECHANISM_PARAM_INVALID, "OAEP source data is NULL");
      op.params["source_data"] = wire::Binary(std::span<const std::uint8_t>(
          static_cast<const std::uint8_t*>(params->pSourceData), params->ulSourceDataLen));
    } else if (params->source != 0 && params->source != CKZ_DATA_SPECIFIED) {
      return Fail(CKR_MECHANISM_PARAM_INVALID, "unsupported OAEP source");
    }
  }
  {
    std::lock_guard lock(s->mutex);
    if (!std::holds_alternative<std::monostate>(s->op)) return Fail(CKR_OPERATION_ACTIVE, "another operation is active");
  }
  auto key = VT_TRY(p->objects.Get(s->slot, hKey, CKR_KEY_HANDLE_INVALID));
  VT_CHECK(CheckKey(*key, *choice.spec, false, CKA_DECRYPT));
  if (key->IsPrivate() && !p->logins.UserLoggedIn(s->slot)) return Fail(CKR_USER_NOT_LOGGED_IN, "decryption needs a user login");
  op.shape = VT_TRY(ShapeOf(*key));
  op.needs_context_login = key->Bool(CKA_ALWAYS_AUTHENTICATE, false);
  op.key = std::move(key);
  return StartOperation(*s, std::move(op));
}

Result<void> Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                     CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<DecryptOperation>(*s, [&](DecryptOperation& op) -> Result<bool> {
    if (op.multipart) return Fail(CKR_OPERATION_ACTIVE, "C_DecryptUpdate was used; finish with C_DecryptFinal");
    auto input = VT_TRY(InputBytes(pEncryptedData, ulEncryptedDataLen, "pEncryptedData"));
    return FinishDecrypt(*p, *s, op, input, pData, pulDataLen);
  });
}

Result<void> DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
                           CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<DecryptOperation>(*s, [&](DecryptOperation& op) -> Result<bool> {
    auto input = VT_TRY(InputBytes(pEncryptedPart, ulEncryptedPartLen, "pEncryptedPart"));
    if (pulPartLen == nullptr) return Fail(CKR_ARGUMENTS_BAD, "pulPartLen is NULL");
    op.multipart = true;
    if (op.buffer.size() + input.size() > op.shape.signature_length)
      return Fail(CKR_ENCRYPTED_DATA_LEN_RANGE, "ciphertext longer than the modulus");
    op.buffer.insert(op.buffer.end(), input.begin(), input.end());
    *pulPartLen = 0;  // RSA gives everything at the end
    return false;
  });
}

Result<void> DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen) {
  auto [p, s] = VT_TRY(EnterSession(hSession));
  return RunOperation<DecryptOperation>(*s, [&](DecryptOperation& op) -> Result<bool> {
    return FinishDecrypt(*p, *s, op, op.buffer, pLastPart, pulLastPartLen);
  });
}

}  // namespace vtoken::pkcs11
