#pragma once
// The agent protocol on the wire (see docs/agent-protocol.md): each message is
// a frame of a 4-byte big-endian length followed by that many bytes of CBOR
// encoding one map. Everything read from a frame is hostile until checked:
// lengths are capped, and the typed getters below refuse wrong types.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/secure.h"

namespace vtoken::wire {

using Json = nlohmann::json;
using Bytes = std::vector<std::uint8_t>;

constexpr int kProtocolVersion = 1;
constexpr std::uint32_t kMaxFrameBytes = 1u << 20;    // 1 MiB per message
constexpr std::size_t kMaxStringBytes = 64u * 1024u;   // any one text field
constexpr std::size_t kMaxBinaryBytes = 512u * 1024u;  // any one byte field
constexpr int kMaxNesting = 64;                        // maps and arrays in one message

// One whole frame (length prefix + CBOR) for a message.
Bytes EncodeFrame(const Json& message);

// Parses one CBOR payload (without the length prefix). Refuses anything that
// is not a map, any payload over kMaxFrameBytes, and nesting over kMaxNesting.
Result<Json> DecodePayload(std::span<const std::uint8_t> payload);

// Collects bytes from a stream and cuts them into messages.
class FrameReader {
 public:
  void Feed(std::span<const std::uint8_t> data);
  // A message, nullopt when more bytes are needed, or an error when the
  // stream is garbage (the connection must then be closed).
  Result<std::optional<Json>> Next();
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  SecureBytes buffer_;  // growing reallocates: the old buffers are wiped too
  std::size_t offset_ = 0;
};

#ifndef _WIN32
// Blocking helpers on a POSIX stream socket.
Result<void> WriteFrame(int fd, const Json& message);
// nullopt on a clean end of stream before any byte of a frame.
Result<std::optional<Json>> ReadFrame(int fd);
#endif

// Typed access to a message's fields. Each fails with CKR_ARGUMENTS_BAD and a
// message naming the field when it is missing, of the wrong type or too long.
Result<std::uint64_t> GetUint(const Json& m, const char* key);
Result<std::int64_t> GetInt(const Json& m, const char* key);
Result<bool> GetBool(const Json& m, const char* key);
Result<std::string> GetString(const Json& m, const char* key, std::size_t max = kMaxStringBytes);
Result<Bytes> GetBytes(const Json& m, const char* key, std::size_t max = kMaxBinaryBytes);
// A secret byte field (PIN, PUK, code); null or missing gives nullopt.
Result<std::optional<Secret>> GetOptionalSecret(const Json& m, const char* key);
const Json* Find(const Json& m, const char* key);  // nullptr if absent or null

// Byte values travel as CBOR byte strings.
Json Binary(std::span<const std::uint8_t> data);
Json Binary(const Secret& secret);

// A secret sent as text (token_create's PIN and PUK), written straight into
// the json's own string: no temporary std::string left behind on the stack.
Json SecretText(const Secret& secret);

// Secrets in messages. nlohmann::json frees its strings and byte strings
// without wiping them, so whoever drops a message that carried a secret
// (after sending it, or after handling it) calls WipeSecrets first.
// The fields that carry secrets: pin, puk, so_pin, old_pin, new_pin, password,
// otp, code, verifier, secret, sad, access_token, refresh_token, plaintext.
bool IsSecretField(std::string_view key);
// Zeroes in place every text and byte value under a secret field, in maps and
// arrays down to kMaxNesting (no frame decodes deeper; the recursion stays
// bounded). Lengths and every other field stay as they are; everything inside
// a secret field's value counts as secret.
void WipeSecrets(Json& message) noexcept;

// Calls WipeSecrets on every way out of a scope (a reply read by the CLI).
class WipeSecretsOnExit {
 public:
  explicit WipeSecretsOnExit(Json& message) : message_(message) {}
  ~WipeSecretsOnExit() { WipeSecrets(message_); }
  WipeSecretsOnExit(const WipeSecretsOnExit&) = delete;
  WipeSecretsOnExit& operator=(const WipeSecretsOnExit&) = delete;

 private:
  Json& message_;
};

// Response builders.
Json Ok(std::uint64_t id);
Json ErrorReply(std::uint64_t id, const Error& error);
// Turns an error reply back into an Error (for clients).
Error ErrorFromReply(const Json& reply);

// PKCS#11 attributes travel as [[type, bytes], ...].
using Attribute = std::pair<unsigned long, Bytes>;
using Attributes = std::vector<Attribute>;
Json EncodeAttributes(const Attributes& attrs);
Result<Attributes> DecodeAttributes(const Json& m, const char* key);

}  // namespace vtoken::wire
