#include "common/wire.h"

#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifndef _WIN32
#include <sys/socket.h>
#include <unistd.h>
#endif

#include "common/ckr_names.h"

namespace vtoken::wire {

Bytes EncodeFrame(const Json& message) {
  // Messages may carry PINs: the CBOR grows in a buffer that wipes every
  // block it gives back, and the frame is allocated once at its final size.
  SecureBytes cbor;
  Json::to_cbor(message, nlohmann::detail::output_adapter<std::uint8_t>(cbor));
  const auto n = static_cast<std::uint32_t>(cbor.size());
  Bytes frame(4 + cbor.size());
  frame[0] = static_cast<std::uint8_t>(n >> 24);
  frame[1] = static_cast<std::uint8_t>(n >> 16);
  frame[2] = static_cast<std::uint8_t>(n >> 8);
  frame[3] = static_cast<std::uint8_t>(n);
  std::copy(cbor.begin(), cbor.end(), frame.begin() + 4);
  return frame;
}

namespace {
// nlohmann::json's own DOM builder with a cap on nesting: its CBOR reader
// recurses once per map or array, so one frame of nested arrays would
// overflow the stack of whoever reads it.
class MessageBuilder : public nlohmann::detail::json_sax_dom_parser<Json> {
 public:
  using json_sax_dom_parser::json_sax_dom_parser;
  // The builder copies each text value; the reader's own string (a PIN sent
  // as text, maybe in its small-string buffer on the stack) is wiped here.
  bool string(string_t& s) {
    const bool ok = json_sax_dom_parser::string(s);
    WipeMemory(s.data(), s.size());
    return ok;
  }
  // A map or array may declare any length up to 2^64-1; nlohmann throws
  // (out_of_range, whatever allow_exceptions says) for one over its
  // container's max_size. No frame holds more entries than it has bytes.
  bool start_object(std::size_t n) { return Enter() && Fits(n) && json_sax_dom_parser::start_object(n); }
  bool end_object() { --depth_; return json_sax_dom_parser::end_object(); }
  bool start_array(std::size_t n) { return Enter() && Fits(n) && json_sax_dom_parser::start_array(n); }
  bool end_array() { --depth_; return json_sax_dom_parser::end_array(); }
  bool too_deep() const { return too_deep_; }
  bool too_long() const { return too_long_; }

 private:
  bool Fits(std::size_t n) {
    too_long_ = n != static_cast<std::size_t>(-1) && n > kMaxFrameBytes;  // -1: indefinite length
    return !too_long_;
  }
  bool Enter() {
    too_deep_ = ++depth_ > kMaxNesting;
    return !too_deep_;
  }
  int depth_ = 0;
  bool too_deep_ = false;
  bool too_long_ = false;
};
}  // namespace

Result<Json> DecodePayload(std::span<const std::uint8_t> payload) {
  if (payload.size() > kMaxFrameBytes) return Fail(CKR_DATA_LEN_RANGE, "frame too large");
  Json message;
  MessageBuilder builder(message, /*allow_exceptions=*/false);
  bool parsed = false;
  try {  // a barrier: nothing a peer sends may throw out of here
    parsed = Json::sax_parse(payload.begin(), payload.end(), &builder, nlohmann::detail::input_format_t::cbor,
                             /*strict=*/true);
  } catch (const Json::exception&) {
    parsed = false;
  }
  if (builder.too_deep()) return Fail(CKR_ARGUMENTS_BAD, "frame nested too deeply");
  if (builder.too_long()) return Fail(CKR_ARGUMENTS_BAD, "frame declares a map or array longer than any frame");
  if (!parsed || builder.is_errored()) return Fail(CKR_ARGUMENTS_BAD, "frame is not valid CBOR");
  if (!message.is_object()) return Fail(CKR_ARGUMENTS_BAD, "frame is not a CBOR map");
  return message;
}

void FrameReader::Feed(std::span<const std::uint8_t> data) {
  if (offset_ > 0 && offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), data.begin(), data.end());
}

Result<std::optional<Json>> FrameReader::Next() {
  const std::size_t available = buffer_.size() - offset_;
  if (available < 4) return std::optional<Json>{};
  const std::uint8_t* p = buffer_.data() + offset_;
  const std::uint32_t n = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                          (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  if (n > kMaxFrameBytes) return Fail(CKR_DATA_LEN_RANGE, "frame length over the limit");
  if (available - 4 < n) return std::optional<Json>{};
  auto message = DecodePayload({p + 4, n});
  WipeMemory(const_cast<std::uint8_t*>(p), 4 + n);
  offset_ += 4 + n;
  if (offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  if (!message) return std::unexpected(message.error());
  return std::optional<Json>(std::move(*message));
}

#ifndef _WIN32
Result<void> WriteFrame(int fd, const Json& message) {
  Bytes frame = EncodeFrame(message);
  std::size_t done = 0;
  while (done < frame.size()) {
    ssize_t w = ::send(fd, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      WipeMemory(frame.data(), frame.size());
      return Fail(CKR_DEVICE_ERROR, std::string("agent connection write failed: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(w);
  }
  WipeMemory(frame.data(), frame.size());
  return {};
}

namespace {
// 1 = complete, 0 = EOF before any byte, error otherwise.
Result<int> ReadExactly(int fd, std::uint8_t* out, std::size_t n, bool eof_ok) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::recv(fd, out + done, n - done, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && done == 0 && eof_ok) return 0;
    if (r <= 0) return Fail(CKR_DEVICE_ERROR, "agent connection closed");
    done += static_cast<std::size_t>(r);
  }
  return 1;
}
}  // namespace

Result<std::optional<Json>> ReadFrame(int fd) {
  std::uint8_t header[4];
  int got = VT_TRY(ReadExactly(fd, header, 4, true));
  if (got == 0) return std::optional<Json>{};
  const std::uint32_t n = (std::uint32_t{header[0]} << 24) | (std::uint32_t{header[1]} << 16) |
                          (std::uint32_t{header[2]} << 8) | std::uint32_t{header[3]};
  if (n > kMaxFrameBytes) return Fail(CKR_DATA_LEN_RANGE, "frame length over the limit");
  SecureBytes payload(n);
  VT_TRY(ReadExactly(fd, payload.data(), n, false));
  auto message = VT_TRY(DecodePayload(payload));
  return std::optional<Json>(std::move(message));
}
#endif

const Json* Find(const Json& m, const char* key) {
  auto it = m.find(key);
  if (it == m.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::uint64_t> GetUint(const Json& m, const char* key) {
  const Json* v = Find(m, key);
  if (!v || !v->is_number_unsigned()) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' must be an unsigned integer");
  return v->get<std::uint64_t>();
}

Result<std::int64_t> GetInt(const Json& m, const char* key) {
  const Json* v = Find(m, key);
  if (!v || !v->is_number_integer()) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' must be an integer");
  return v->get<std::int64_t>();
}

Result<bool> GetBool(const Json& m, const char* key) {
  const Json* v = Find(m, key);
  if (!v || !v->is_boolean()) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' must be a boolean");
  return v->get<bool>();
}

Result<std::string> GetString(const Json& m, const char* key, std::size_t max) {
  const Json* v = Find(m, key);
  if (!v || !v->is_string()) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' is too long");
  return s;
}

Result<Bytes> GetBytes(const Json& m, const char* key, std::size_t max) {
  const Json* v = Find(m, key);
  if (!v || !v->is_binary()) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' must be a byte string");
  const auto& b = v->get_binary();
  if (b.size() > max) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' is too long");
  return Bytes(b.begin(), b.end());
}

Result<std::optional<Secret>> GetOptionalSecret(const Json& m, const char* key) {
  const Json* v = Find(m, key);
  if (!v) return std::optional<Secret>{};
  if (!v->is_binary()) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' must be a byte string");
  const auto& b = v->get_binary();
  if (b.size() > 4096) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' is too long");
  return std::optional<Secret>(Secret(b.data(), b.size()));
}

Json Binary(std::span<const std::uint8_t> data) {
  return Json::binary(std::vector<std::uint8_t>(data.begin(), data.end()));
}

Json Binary(const Secret& secret) {
  return Json::binary(std::vector<std::uint8_t>(secret.data(), secret.data() + secret.size()));
}

Json SecretText(const Secret& secret) {
  Json text = Json::string_t();
  text.get_ref<Json::string_t&>().assign(secret.view());
  return text;
}

bool IsSecretField(std::string_view key) {
  static constexpr std::string_view kSecretFields[] = {
      "pin",    "puk",    "so_pin", "old_pin", "new_pin",      "password",      "otp",
      "code",   "verifier", "secret", "sad",   "access_token", "refresh_token", "plaintext"};
  for (auto name : kSecretFields)
    if (key == name) return true;
  return false;
}

namespace {
// `secret`: the value sits under a secret field, so all of it is wiped.
void Wipe(Json& value, bool secret, int depth) noexcept {
  if (depth > kMaxNesting) return;
  if (secret && value.is_string()) {
    auto& s = value.get_ref<Json::string_t&>();
    WipeMemory(s.data(), s.size());
  } else if (secret && value.is_binary()) {
    auto& b = value.get_binary();
    WipeMemory(b.data(), b.size());
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) Wipe(it.value(), secret || IsSecretField(it.key()), depth + 1);
  } else if (value.is_array()) {
    for (auto& element : value) Wipe(element, secret, depth + 1);
  }
}
}  // namespace

void WipeSecrets(Json& message) noexcept { Wipe(message, false, 0); }

Json Ok(std::uint64_t id) { return Json{{"id", id}, {"ok", true}}; }

Json ErrorReply(std::uint64_t id, const Error& error) {
  return Json{{"id", id},
              {"ok", false},
              {"rv", error.rv},
              {"error", std::string(CkrName(error.rv))},
              {"message", error.message}};
}

Error ErrorFromReply(const Json& reply) {
  Error e;
  e.rv = CKR_GENERAL_ERROR;
  if (auto rv = GetUint(reply, "rv")) e.rv = *rv;
  if (auto msg = GetString(reply, "message")) e.message = *msg;
  return e;
}

Json EncodeAttributes(const Attributes& attrs) {
  Json out = Json::array();
  for (const auto& [type, value] : attrs) out.push_back(Json::array({type, Binary(value)}));
  return out;
}

Result<Attributes> DecodeAttributes(const Json& m, const char* key) {
  const Json* v = Find(m, key);
  if (!v) return Attributes{};
  if (!v->is_array() || v->size() > 256) return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' must be an attribute list");
  Attributes out;
  out.reserve(v->size());
  for (const auto& pair : *v) {
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() || !pair[1].is_binary())
      return Fail(CKR_ARGUMENTS_BAD, std::string("field '") + key + "' holds a malformed attribute");
    const auto& b = pair[1].get_binary();
    if (b.size() > kMaxBinaryBytes) return Fail(CKR_ARGUMENTS_BAD, "attribute value too long");
    out.emplace_back(pair[0].get<unsigned long>(), Bytes(b.begin(), b.end()));
  }
  return out;
}

}  // namespace vtoken::wire
