// credentials/authorize (TOTP code -> SAD) and signatures/signHash.
#include "remote-client/csc_client.h"
#include "remote-client/der.h"
#include "remote-client/encoding.h"

namespace vtoken::csc {
namespace {

constexpr std::size_t kMaxHashesPerCall = 64;
constexpr std::int64_t kMaxSadLifetime = 24 * 3600;

Result<void> CheckHashes(std::string_view endpoint, std::span<const Bytes> hashes, HashAlgo algo,
                         bool allow_empty) {
  if (hashes.empty() && !allow_empty)
    return CscFail(CscErrorKind::InvalidRequest, std::string(endpoint) + ": no hash to sign");
  if (hashes.size() > kMaxHashesPerCall)
    return CscFail(CscErrorKind::InvalidRequest, std::string(endpoint) + ": more than " +
                                                     std::to_string(kMaxHashesPerCall) + " hashes");
  for (const auto& h : hashes)
    if (h.size() != HashSize(algo))
      return CscFail(CscErrorKind::InvalidRequest,
                     std::string(endpoint) + ": a hash has " + std::to_string(h.size()) +
                         " bytes, the hash algorithm needs " + std::to_string(HashSize(algo)));
  return {};
}

Json EncodeHashes(std::span<const Bytes> hashes) {
  Json out = Json::array();
  for (const auto& h : hashes) out.push_back(Base64Encode(h));
  return out;
}

std::string_view EcdsaOid(HashAlgo h) {
  switch (h) {
    case HashAlgo::Sha256: return oid::kEcdsaSha256;
    case HashAlgo::Sha384: return oid::kEcdsaSha384;
    case HashAlgo::Sha512: return oid::kEcdsaSha512;
    case HashAlgo::Sha224: return oid::kEcPublicKey;  // the hash comes from hashAlgorithmOID
  }
  return oid::kEcPublicKey;
}

// One signature from the service, checked against the key and put in the
// form PKCS#11 returns.
Result<Bytes> NormaliseSignature(Bytes sig, const KeyInfo& key, std::size_t index) {
  const auto where = "signatures/signHash: signature " + std::to_string(index);
  if (key.type == KeyType::Rsa) {
    if (sig.size() != key.SignatureSize())
      return CscFail(CscErrorKind::BadResponse, where + " has " + std::to_string(sig.size()) +
                                                    " bytes, the RSA key needs " +
                                                    std::to_string(key.SignatureSize()));
    return sig;
  }
  const std::size_t n = key.EcFieldBytes();
  // API.md: DER ECDSA-Sig-Value. Other CSC services answer raw r||s; a raw
  // value of exactly 2n bytes is accepted when it is not strict DER.
  if (auto raw = EcdsaDerToRaw(sig, n)) return *raw;
  if (sig.size() == 2 * n) return sig;
  return CscFail(CscErrorKind::BadResponse, where + " is neither a DER ECDSA signature nor " +
                                                std::to_string(2 * n) + " raw bytes for this curve");
}

}  // namespace

Result<Sad> Client::Authorize(std::string_view credential_id, const Secret& otp, unsigned num_signatures,
                              std::span<const Bytes> hashes, HashAlgo hash_algo, OptDeadline d) {
  if (credential_id.empty() || credential_id.size() > kMaxIdBytes)
    return CscFail(CscErrorKind::InvalidRequest, "credentials/authorize: bad credential ID");
  if (num_signatures < 1 || num_signatures > 100000)
    return CscFail(CscErrorKind::InvalidRequest, "credentials/authorize: numSignatures out of range");
  VT_CHECK(CheckHashes("credentials/authorize", hashes, hash_algo, true));
  if (hashes.size() > num_signatures)
    return CscFail(CscErrorKind::InvalidRequest, "credentials/authorize: more hashes than numSignatures");
  const Deadline deadline = Resolve(d);
  VT_CHECK(EnsureFreshToken(deadline));

  Json plain = {{"credentialID", credential_id}, {"numSignatures", num_signatures}};
  if (!hashes.empty()) {
    plain["hashes"] = EncodeHashes(hashes);
    plain["hashAlgorithmOID"] = HashOid(hash_algo);
  }
  SecureString auth_data(R"([{"id":"otp","value":)");
  AppendJsonString(auth_data, otp.view());
  auth_data += "}]";
  SecretJsonBody body(plain.dump());
  body.AddRaw("authData", auth_data);
  WipeMemory(auth_data.data(), auth_data.size());
  Call call{.endpoint = "credentials/authorize", .url = CscUrl("credentials/authorize"),
            .body = body.Finish(), .auth = Auth::Bearer};
  Json answer = VT_TRY(Execute(std::move(call), deadline));
  Reader r("credentials/authorize", answer);
  const auto expires_in = VT_TRY(r.OptInt("expiresIn", 1, kMaxSadLifetime)).value_or(3600);
  Sad sad;
  sad.value = VT_TRY(Reader::TakeSecret("credentials/authorize", answer, "SAD"));
  sad.expires = Clock::now() + std::chrono::seconds(expires_in);
  sad.num_signatures = num_signatures;
  return sad;
}

Result<std::vector<Bytes>> Client::SignHash(std::string_view credential_id, const Sad& sad,
                                            std::span<const Bytes> hashes, HashAlgo hash_algo,
                                            const SignAlgo& algo, OptDeadline d) {
  if (credential_id.empty() || credential_id.size() > kMaxIdBytes)
    return CscFail(CscErrorKind::InvalidRequest, "signatures/signHash: bad credential ID");
  VT_CHECK(CheckHashes("signatures/signHash", hashes, hash_algo, false));
  if (sad.value.empty()) return CscFail(CscErrorKind::SadInvalid, "signatures/signHash: no SAD");
  if (Clock::now() >= sad.expires)
    return CscFail(CscErrorKind::SadExpired, "signatures/signHash: the SAD has expired (locally)");
  const Deadline deadline = Resolve(d);
  const KeyInfo key = VT_TRY(KeyFor(credential_id, deadline));
  VT_CHECK(EnsureFreshToken(deadline));

  Json plain = {{"credentialID", credential_id},
                {"hashes", EncodeHashes(hashes)},
                {"hashAlgorithmOID", HashOid(hash_algo)},
                {"operationMode", "S"}};
  switch (algo.kind) {
    case SignAlgo::Kind::RsaPkcs1:
    case SignAlgo::Kind::RsaPss:
      if (key.type != KeyType::Rsa)
        return CscFail(CscErrorKind::InvalidRequest, "signatures/signHash: RSA mechanism on a non-RSA key");
      if (algo.kind == SignAlgo::Kind::RsaPkcs1) {
        plain["signAlgo"] = oid::kRsaEncryption;
      } else {
        if (algo.pss.hash != hash_algo)
          return CscFail(CscErrorKind::InvalidRequest, "signatures/signHash: PSS hash differs from the hash algorithm");
        plain["signAlgo"] = oid::kRsaPss;
        plain["signAlgoParams"] = Base64Encode(EncodePssParams(algo.pss));
      }
      break;
    case SignAlgo::Kind::Ecdsa:
      if (key.type != KeyType::Ec)
        return CscFail(CscErrorKind::InvalidRequest, "signatures/signHash: ECDSA on a non-EC key");
      plain["signAlgo"] = EcdsaOid(hash_algo);
      break;
  }
  SecretJsonBody body(plain.dump());
  body.AddSecret("SAD", sad.value.view());
  Call call{.endpoint = "signatures/signHash", .url = CscUrl("signatures/signHash"),
            .body = body.Finish(), .auth = Auth::Bearer};
  const Json answer = VT_TRY(Execute(std::move(call), deadline));
  Reader r("signatures/signHash", answer);
  auto signatures = VT_TRY(r.Base64Array("signatures", kMaxHashesPerCall, kMaxSignatureBytes, true));
  if (signatures.size() != hashes.size())
    return std::unexpected(r.Bad(std::to_string(signatures.size()) + " signatures for " +
                                 std::to_string(hashes.size()) + " hashes"));
  std::vector<Bytes> out;
  out.reserve(signatures.size());
  for (std::size_t i = 0; i < signatures.size(); ++i)
    out.push_back(VT_TRY(NormaliseSignature(std::move(signatures[i]), key, i)));
  return out;
}

}  // namespace vtoken::csc
