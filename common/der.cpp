#include "common/der.h"

#include <algorithm>
#include <array>

namespace vtoken::der {
namespace {

constexpr std::uint8_t kSequence = 0x30, kInteger = 0x02, kOctetString = 0x04, kNull = 0x05, kOid = 0x06;

struct HashEntry {
  Hash hash;
  std::size_t length;
  std::array<std::uint8_t, 9> oid;  // contents of the OBJECT IDENTIFIER
  std::size_t oid_length;
};
// 1.2.840.113549.2.5, 1.3.14.3.2.26 and 2.16.840.1.101.3.4.2.{4,1,2,3}
constexpr HashEntry kHashes[] = {
    {Hash::kMd5, 16, {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05}, 8},
    {Hash::kSha1, 20, {0x2b, 0x0e, 0x03, 0x02, 0x1a}, 5},
    {Hash::kSha224, 28, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04}, 9},
    {Hash::kSha256, 32, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}, 9},
    {Hash::kSha384, 48, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02}, 9},
    {Hash::kSha512, 64, {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03}, 9},
};
constexpr std::array<std::uint8_t, 9> kMgf1Oid{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08};

const HashEntry& Entry(Hash h) { return kHashes[static_cast<int>(h)]; }

Bytes Cat(std::initializer_list<std::span<const std::uint8_t>> parts) {
  Bytes out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Minimal two's-complement INTEGER contents of a non-negative big-endian number.
Bytes IntegerContents(std::span<const std::uint8_t> magnitude) {
  std::size_t skip = 0;
  while (skip < magnitude.size() && magnitude[skip] == 0) ++skip;
  Bytes out;
  out.reserve(magnitude.size() - skip + 1);
  if (skip == magnitude.size() || (magnitude[skip] & 0x80)) out.push_back(0);
  for (std::size_t i = skip; i < magnitude.size(); ++i) out.push_back(magnitude[i]);
  return out;
}

// A reader over DER: each Read takes one TLV of the expected tag.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  bool done() const { return in_.empty(); }
  std::optional<std::span<const std::uint8_t>> Read(std::uint8_t tag) {
    if (in_.size() < 2 || in_[0] != tag) return std::nullopt;
    std::size_t len = in_[1], header = 2;
    if (len == 0x81) {
      if (in_.size() < 3 || in_[2] < 0x80) return std::nullopt;  // not minimal
      len = in_[2];
      header = 3;
    } else if (len == 0x82) {
      if (in_.size() < 4 || in_[2] == 0) return std::nullopt;
      len = (std::size_t{in_[2]} << 8) | in_[3];
      if (len < 0x100) return std::nullopt;
      header = 4;
    } else if (len > 0x7f) {
      return std::nullopt;
    }
    if (in_.size() - header < len) return std::nullopt;
    auto content = in_.subspan(header, len);
    in_ = in_.subspan(header + len);
    return content;
  }

 private:
  std::span<const std::uint8_t> in_;
};

// A positive, minimally encoded INTEGER's magnitude.
std::optional<std::span<const std::uint8_t>> PositiveInteger(Reader& r) {
  auto v = r.Read(kInteger);
  if (!v || v->empty() || ((*v)[0] & 0x80)) return std::nullopt;
  if (v->size() > 1 && (*v)[0] == 0 && !((*v)[1] & 0x80)) return std::nullopt;  // not minimal
  auto magnitude = *v;
  if (magnitude[0] == 0) magnitude = magnitude.subspan(1);
  if (magnitude.empty()) return std::nullopt;  // zero
  return magnitude;
}

}  // namespace

std::size_t HashLength(Hash h) { return Entry(h).length; }

Bytes Tlv(std::uint8_t tag, std::span<const std::uint8_t> content) {
  const std::size_t n = content.size();
  Bytes out;
  out.reserve(n + 4);
  out.push_back(tag);
  if (n >= 0x100) {
    out.push_back(0x82);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
  } else if (n >= 0x80) {
    out.push_back(0x81);
  }
  out.push_back(static_cast<std::uint8_t>(n));
  for (std::uint8_t b : content) out.push_back(b);
  return out;
}

Bytes HashAlgorithmId(Hash h, bool null_parameters) {
  const auto& e = Entry(h);
  const Bytes oid = Tlv(kOid, std::span(e.oid).first(e.oid_length));
  static constexpr std::uint8_t kNullValue[] = {kNull, 0x00};
  return Tlv(kSequence, null_parameters ? Cat({oid, kNullValue}) : oid);
}

Bytes DigestInfo(Hash h, std::span<const std::uint8_t> digest, bool null_parameters) {
  return Tlv(kSequence, Cat({HashAlgorithmId(h, null_parameters), Tlv(kOctetString, digest)}));
}

std::optional<ParsedDigestInfo> ParseDigestInfo(std::span<const std::uint8_t> der) {
  Reader outer(der);
  auto body = outer.Read(kSequence);
  if (!body || !outer.done()) return std::nullopt;
  Reader fields(*body);
  auto algorithm = fields.Read(kSequence);
  auto digest = fields.Read(kOctetString);
  if (!algorithm || !digest || !fields.done()) return std::nullopt;
  Reader alg(*algorithm);
  auto oid = alg.Read(kOid);
  if (!oid) return std::nullopt;
  if (!alg.done()) {
    auto null = alg.Read(kNull);
    if (!null || !null->empty() || !alg.done()) return std::nullopt;
  }
  for (const auto& e : kHashes) {
    if (!std::ranges::equal(*oid, std::span(e.oid).first(e.oid_length))) continue;
    if (digest->size() != e.length) return std::nullopt;
    return ParsedDigestInfo{e.hash, Bytes(digest->begin(), digest->end())};
  }
  return std::nullopt;
}

Bytes RsaPssParams(Hash hash, Hash mgf1_hash, std::size_t salt_length, bool null_parameters) {
  const Bytes mgf = Tlv(kSequence, Cat({Tlv(kOid, kMgf1Oid), HashAlgorithmId(mgf1_hash, null_parameters)}));
  Bytes salt;
  for (std::size_t v = salt_length; v != 0; v >>= 8) salt.insert(salt.begin(), static_cast<std::uint8_t>(v));
  return Tlv(kSequence, Cat({Tlv(0xa0, HashAlgorithmId(hash, null_parameters)), Tlv(0xa1, mgf),
                             Tlv(0xa2, Tlv(kInteger, IntegerContents(salt)))}));
}

std::optional<Bytes> EcdsaDerToRaw(std::span<const std::uint8_t> der, std::size_t field_bytes) {
  if (field_bytes == 0 || field_bytes > 66) return std::nullopt;
  Reader outer(der);
  auto body = outer.Read(kSequence);
  if (!body || !outer.done()) return std::nullopt;
  Reader fields(*body);
  auto r = PositiveInteger(fields);
  auto s = PositiveInteger(fields);
  if (!r || !s || !fields.done() || r->size() > field_bytes || s->size() > field_bytes) return std::nullopt;
  Bytes raw(2 * field_bytes, 0);
  std::ranges::copy(*r, raw.begin() + static_cast<std::ptrdiff_t>(field_bytes - r->size()));
  std::ranges::copy(*s, raw.end() - static_cast<std::ptrdiff_t>(s->size()));
  return raw;
}

std::optional<Bytes> EcdsaRawToDer(std::span<const std::uint8_t> raw) {
  if (raw.empty() || raw.size() % 2 != 0 || raw.size() > 2 * 66) return std::nullopt;
  const std::size_t n = raw.size() / 2;
  return Tlv(kSequence, Cat({Tlv(kInteger, IntegerContents(raw.first(n))), Tlv(kInteger, IntegerContents(raw.last(n)))}));
}

}  // namespace vtoken::der
