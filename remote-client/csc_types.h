#pragma once
// The values the CSC client returns and takes. Field names follow the CSC API
// v2.0.0.2 responses they are parsed from; comments name the JSON member.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure.h"
#include "remote-client/encoding.h"

namespace vtoken::csc {

enum class HashAlgo { Sha224, Sha256, Sha384, Sha512 };

std::string_view HashOid(HashAlgo h);        // 2.16.840.1.101.3.4.2.x
std::size_t HashSize(HashAlgo h);            // digest bytes
std::optional<HashAlgo> HashFromOid(std::string_view oid);

namespace oid {
inline constexpr std::string_view kRsaEncryption = "1.2.840.113549.1.1.1";
inline constexpr std::string_view kRsaPss = "1.2.840.113549.1.1.10";
inline constexpr std::string_view kMgf1 = "1.2.840.113549.1.1.8";
inline constexpr std::string_view kEcPublicKey = "1.2.840.10045.2.1";
inline constexpr std::string_view kEcdsaSha224 = "1.2.840.10045.4.3.1";
inline constexpr std::string_view kEcdsaSha256 = "1.2.840.10045.4.3.2";
inline constexpr std::string_view kEcdsaSha384 = "1.2.840.10045.4.3.3";
inline constexpr std::string_view kEcdsaSha512 = "1.2.840.10045.4.3.4";
inline constexpr std::string_view kP256 = "1.2.840.10045.3.1.7";
inline constexpr std::string_view kP384 = "1.3.132.0.34";
inline constexpr std::string_view kP521 = "1.3.132.0.35";
}  // namespace oid

// What the service answers to `info`.
struct ServiceInfo {
  std::string specs;                    // "specs", e.g. "2.0.0.2"
  std::string name;                     // "name"
  std::string logo;                     // "logo" (URI)
  std::string region;                   // "region"
  std::string lang;                     // "lang"
  std::string description;              // "description"
  std::vector<std::string> auth_types;  // "authType": "basic", "oauth2code", ...
  std::string oauth2;                   // "oauth2": base URI of the OAuth2 server
  std::vector<std::string> methods;     // "methods"
};

enum class KeyType { Rsa, Ec };

struct KeyInfo {
  KeyType type = KeyType::Rsa;
  std::vector<std::string> algorithms;  // "key.algo" OIDs
  unsigned bits = 0;                    // "key.len"
  std::string curve;                    // "key.curve" OID (EC only)
  bool enabled = true;                  // "key.status" == "enabled"
  // Bytes of one signature: RSA modulus size, or 2·n for raw ECDSA r||s.
  std::size_t SignatureSize() const;
  std::size_t EcFieldBytes() const;  // n (0 for RSA)
};

struct AuthObject {  // "auth.objects[]"
  std::string type;         // "Password", "OTP", ...
  std::string id;           // used as authData id
  std::string format;       // "N" numeric, "A" alphanumeric
  std::string label;
  std::string description;
  std::string generator;    // "totp" (vtoken extension) when known
  unsigned digits = 0;      // "digits" (vtoken extension), 0 if absent
  unsigned period = 0;      // "period" seconds (vtoken extension), 0 if absent
};

struct Quota {  // "quota" (vtoken extension)
  std::uint64_t total = 0;
  std::uint64_t used = 0;
};

struct CredentialInfo {
  std::string id;                           // the credentialID asked for
  std::string description;                  // "description"
  std::string signature_qualifier;          // "signatureQualifier"
  KeyInfo key;                              // "key"
  std::string cert_status;                  // "cert.status": valid/expired/revoked/suspended
  std::vector<Bytes> certificates;          // "cert.certificates": DER, end entity first
  std::string issuer_dn, subject_dn;        // "cert.issuerDN", "cert.subjectDN"
  std::string serial_number;                // "cert.serialNumber"
  std::optional<std::chrono::system_clock::time_point> valid_from, valid_to;  // "cert.validFrom/To"
  std::string auth_mode;                    // "auth.mode": explicit/oauth2code
  std::string auth_expression;              // "auth.expression"
  std::vector<AuthObject> auth_objects;     // "auth.objects"
  int scal = 1;                             // "SCAL": 1 or 2
  unsigned multisign = 1;                   // "multisign"
  std::string lang;                         // "lang"
  std::optional<Quota> quota;               // "quota" (extension)
};

// Signature activation data from credentials/authorize.
struct Sad {
  Secret value;                                 // "SAD"
  std::chrono::steady_clock::time_point expires;  // now + "expiresIn"
  unsigned num_signatures = 1;
};

struct PssParams {
  HashAlgo hash = HashAlgo::Sha256;
  HashAlgo mgf1_hash = HashAlgo::Sha256;
  unsigned salt_length = 32;
};

struct SignAlgo {
  enum class Kind { RsaPkcs1, RsaPss, Ecdsa };
  Kind kind = Kind::RsaPkcs1;
  PssParams pss;  // RsaPss only
};

// The session the client holds after login or an OAuth2 exchange.
struct SessionTokens {
  enum class Origin { Login, OAuth2 };
  Origin origin = Origin::Login;  // where a refresh goes: auth/login or oauth2/token
  Secret access_token;
  Secret refresh_token;  // empty if none was issued
  std::chrono::steady_clock::time_point expires;
};

}  // namespace vtoken::csc
