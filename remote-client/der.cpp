#include "remote-client/der.h"

#include <openssl/ecdsa.h>

#include "common/ossl.h"

namespace vtoken::csc {
namespace {

using EcdsaSig = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG, ECDSA_SIG_free>>;

void AppendTlv(Bytes& out, std::uint8_t tag, const Bytes& content) {
  out.push_back(tag);
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n < 0x100) {
    out.push_back(0x81);
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  }
  out.insert(out.end(), content.begin(), content.end());
}

Bytes HashOidDer(HashAlgo h) {
  // 2.16.840.1.101.3.4.2.x
  Bytes oid = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02};
  switch (h) {
    case HashAlgo::Sha256: oid.push_back(0x01); break;
    case HashAlgo::Sha384: oid.push_back(0x02); break;
    case HashAlgo::Sha512: oid.push_back(0x03); break;
    case HashAlgo::Sha224: oid.push_back(0x04); break;
  }
  return oid;
}

// AlgorithmIdentifier for a SHA-2 hash, parameters absent (RFC 5754).
Bytes HashAlgorithmId(HashAlgo h) {
  Bytes oid;
  AppendTlv(oid, 0x06, HashOidDer(h));
  Bytes seq;
  AppendTlv(seq, 0x30, oid);
  return seq;
}

}  // namespace

Bytes EncodePssParams(const PssParams& params) {
  Bytes body;
  AppendTlv(body, 0xA0, HashAlgorithmId(params.hash));
  Bytes mgf;
  AppendTlv(mgf, 0x06, {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08});
  const Bytes mgf_hash = HashAlgorithmId(params.mgf1_hash);
  mgf.insert(mgf.end(), mgf_hash.begin(), mgf_hash.end());
  Bytes mgf_seq;
  AppendTlv(mgf_seq, 0x30, mgf);
  AppendTlv(body, 0xA1, mgf_seq);
  // INTEGER saltLength, minimal two's complement.
  Bytes salt;
  unsigned v = params.salt_length;
  do {
    salt.insert(salt.begin(), static_cast<std::uint8_t>(v & 0xff));
    v >>= 8;
  } while (v != 0);
  if (salt.front() & 0x80) salt.insert(salt.begin(), 0x00);
  Bytes integer;
  AppendTlv(integer, 0x02, salt);
  AppendTlv(body, 0xA2, integer);
  Bytes out;
  AppendTlv(out, 0x30, body);
  return out;
}

std::optional<Bytes> EcdsaDerToRaw(std::span<const std::uint8_t> der, std::size_t field_bytes) {
  if (der.empty() || der.size() > 2 * field_bytes + 16 || field_bytes == 0) return std::nullopt;
  const unsigned char* p = der.data();
  EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig || p != der.data() + der.size()) return std::nullopt;
  // Strict DER: re-encoding must give back the same bytes.
  unsigned char* again = nullptr;
  const int n = i2d_ECDSA_SIG(sig.get(), &again);
  const bool same = n == static_cast<int>(der.size()) &&
                    std::equal(der.begin(), der.end(), again);
  OPENSSL_free(again);
  if (!same) return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  if (BN_is_negative(r) || BN_is_negative(s) || BN_is_zero(r) || BN_is_zero(s)) return std::nullopt;
  Bytes raw(2 * field_bytes);
  if (BN_bn2binpad(r, raw.data(), static_cast<int>(field_bytes)) < 0) return std::nullopt;
  if (BN_bn2binpad(s, raw.data() + field_bytes, static_cast<int>(field_bytes)) < 0) return std::nullopt;
  return raw;
}

std::optional<Bytes> EcdsaRawToDer(std::span<const std::uint8_t> raw) {
  if (raw.empty() || raw.size() % 2 != 0) return std::nullopt;
  const std::size_t n = raw.size() / 2;
  EcdsaSig sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(n), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + n, static_cast<int>(n), nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace vtoken::csc
