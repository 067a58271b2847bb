#pragma once
// The operation a session may have active: one of these, held in the
// session's std::variant behind its mutex. Each says what it supports:
// hashing mechanisms are multi-part through an EVP_MD_CTX; raw ones buffer
// their input (capped) so C_*Update works for them too.
#include <p11-kit/pkcs11.h>

#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "common/ossl.h"
#include "common/wire.h"
#include "pkcs11/crypto.h"
#include "pkcs11/object.h"

namespace vtoken::pkcs11 {

constexpr std::size_t kMaxBufferedInput = 64 * 1024;  // raw mechanisms sign hashes, not documents

struct FindOperation {
  std::vector<CK_OBJECT_HANDLE> handles;
  std::size_t next = 0;
};

// The input of a sign, verify or digest operation: hashing mechanisms feed
// `md`, raw ones buffer it (capped by kMaxBufferedInput).
struct MultipartInput {
  ossl::MdCtx md;
  wire::Bytes buffer;
  bool multipart = false;  // C_*Update was used: only C_*Final may end it
};

// What sign and verify share: the mechanism as the application asked for it
// and the raw one that is performed on the hash.
struct SignatureMechanism : MultipartInput {
  CK_MECHANISM_TYPE mechanism = 0;  // as the application asked
  CK_MECHANISM_TYPE raw = 0;        // what the agent (or local verification) does
  CK_MECHANISM_TYPE hash = 0;       // 0 for raw mechanisms
  std::optional<PssParams> pss;
  KeyShape shape;
};

struct SignOperation : SignatureMechanism {
  std::shared_ptr<const Object> key;
  bool needs_context_login = false;
  bool context_logged_in = false;
};

struct VerifyOperation : SignatureMechanism {
  ossl::PKey public_key;
};

struct DigestOperation : MultipartInput {
  CK_MECHANISM_TYPE hash = 0;
};

struct DecryptOperation {
  CK_MECHANISM_TYPE mechanism = 0;
  wire::Json params;  // OAEP parameters for the agent, or null
  std::shared_ptr<const Object> key;
  KeyShape shape;
  wire::Bytes buffer;                      // multi-part input
  std::optional<SecureBytes> plaintext;    // kept across CKR_BUFFER_TOO_SMALL
  bool multipart = false;
  bool needs_context_login = false;
  bool context_logged_in = false;
};

using Operation = std::variant<std::monostate, FindOperation, SignOperation, VerifyOperation, DigestOperation,
                               DecryptOperation>;

}  // namespace vtoken::pkcs11
