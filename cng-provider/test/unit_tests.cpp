// The provider against the in-process fake agent: function table, handles,
// enumeration, properties, public-key export, errors. Runs under Wine (or Windows).
#include <catch2/catch.hpp>

#include <cstring>
#include <set>

#include "cng-provider/src/provider.h"
#include "cng-provider/test/fake_agent.h"
#include "cng-provider/test/ksp_test_util.h"

using namespace vtoken::ksp;
using namespace vtoken::ksp::test;

namespace {

NCRYPT_KEY_STORAGE_FUNCTION_TABLE* Table() {
  NCRYPT_KEY_STORAGE_FUNCTION_TABLE* t = nullptr;
  REQUIRE(GetKeyStorageInterface(kProviderName, &t, 0) == 0);
  return t;
}

struct Open {
  NCRYPT_KEY_STORAGE_FUNCTION_TABLE* t = Table();
  NCRYPT_PROV_HANDLE prov = 0;
  Open() {
    UseFakeAgent();
    REQUIRE_NTE(t->OpenProvider(&prov, kProviderName, 0), ERROR_SUCCESS);
  }
  ~Open() { t->FreeProvider(prov); }
  NCRYPT_KEY_HANDLE Key(const wchar_t* name, DWORD flags = 0) {
    NCRYPT_KEY_HANDLE k = 0;
    REQUIRE_NTE(t->OpenKey(prov, &k, name, 0, flags), ERROR_SUCCESS);
    return k;
  }
  std::vector<unsigned char> Prop(NCRYPT_KEY_HANDLE k, const wchar_t* name, DWORD flags = 0) {
    DWORD n = 0;
    REQUIRE_NTE(t->GetKeyProperty(prov, k, name, nullptr, 0, &n, flags), ERROR_SUCCESS);
    std::vector<unsigned char> v(n);
    REQUIRE_NTE(t->GetKeyProperty(prov, k, name, v.data(), n, &n, flags), ERROR_SUCCESS);
    v.resize(n);
    return v;
  }
  DWORD PropDword(NCRYPT_KEY_HANDLE k, const wchar_t* name) {
    auto v = Prop(k, name);
    REQUIRE(v.size() == 4);
    DWORD d;
    std::memcpy(&d, v.data(), 4);
    return d;
  }
};

}  // namespace

TEST_CASE("GetKeyStorageInterface fills every entry of the table") {
  NCRYPT_KEY_STORAGE_FUNCTION_TABLE* t = nullptr;
  CHECK(GetKeyStorageInterface(nullptr, nullptr, 0) != 0);
  REQUIRE(GetKeyStorageInterface(kProviderName, &t, 0) == 0);
  REQUIRE(t);
  CHECK(t->Version.MajorVersion == 3);
  void* entries[29];
  static_assert(sizeof(NCRYPT_KEY_STORAGE_FUNCTION_TABLE) == sizeof(BCRYPT_INTERFACE_VERSION) + 4 /*padding*/ + sizeof entries);
  std::memcpy(entries, &t->OpenProvider, sizeof entries);
  for (void* e : entries) CHECK(e != nullptr);
}

TEST_CASE("provider handles are looked up, never cast") {
  Open o;
  CHECK_NTE(o.t->OpenProvider(nullptr, kProviderName, 0), NTE_INVALID_PARAMETER);
  NCRYPT_PROV_HANDLE p2 = 0;
  CHECK_NTE(o.t->OpenProvider(&p2, kProviderName, 0x1000), NTE_BAD_FLAGS);
  DWORD n = 0;
  CHECK_NTE(o.t->GetProviderProperty(0, NCRYPT_NAME_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->GetProviderProperty(0xdeadbeef, NCRYPT_NAME_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->GetProviderProperty(reinterpret_cast<NCRYPT_PROV_HANDLE>(&o), NCRYPT_NAME_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  REQUIRE_NTE(o.t->OpenProvider(&p2, kProviderName, NCRYPT_SILENT_FLAG), ERROR_SUCCESS);
  CHECK(p2 != o.prov);
  CHECK_NTE(o.t->FreeProvider(p2), ERROR_SUCCESS);
  CHECK_NTE(o.t->FreeProvider(p2), NTE_INVALID_HANDLE);  // freed twice
  CHECK_NTE(o.t->GetProviderProperty(p2, NCRYPT_NAME_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
}

TEST_CASE("key handles belong to their provider and die with FreeKey") {
  Open o;
  NCRYPT_KEY_HANDLE k = o.Key(L"vtoken:00fa4e0000000001:01");
  DWORD n = 0;
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k + 1, NCRYPT_LENGTH_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->GetKeyProperty(o.prov, o.prov, NCRYPT_LENGTH_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->GetKeyProperty(k, k, NCRYPT_LENGTH_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  NCRYPT_PROV_HANDLE other = 0;
  REQUIRE_NTE(o.t->OpenProvider(&other, kProviderName, 0), ERROR_SUCCESS);
  CHECK_NTE(o.t->GetKeyProperty(other, k, NCRYPT_LENGTH_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->FreeKey(other, k), NTE_INVALID_HANDLE);
  o.t->FreeProvider(other);
  CHECK_NTE(o.t->FreeKey(o.prov, k), ERROR_SUCCESS);
  CHECK_NTE(o.t->FreeKey(o.prov, k), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, NCRYPT_LENGTH_PROPERTY, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
}

TEST_CASE("EnumKeys lists each key once and ends with NTE_NO_MORE_ITEMS") {
  Open o;
  PVOID state = nullptr;
  std::set<std::wstring> names;
  for (;;) {
    NCryptKeyName* name = nullptr;
    SECURITY_STATUS s = o.t->EnumKeys(o.prov, nullptr, &name, &state, 0);
    if (s == NTE_NO_MORE_ITEMS) break;
    REQUIRE_NTE(s, ERROR_SUCCESS);
    names.insert(name->pszName);
    if (std::wstring(name->pszName) == L"vtoken:00fa4e0000000001:01") CHECK(std::wstring(name->pszAlgid) == L"RSA");
    if (std::wstring(name->pszName) == L"vtoken:00fa4e0000000001:02") CHECK(std::wstring(name->pszAlgid) == L"ECDSA_P256");
    CHECK(name->dwLegacyKeySpec == AT_SIGNATURE);
    CHECK_NTE(o.t->FreeBuffer(name), ERROR_SUCCESS);
  }
  CHECK(names == std::set<std::wstring>{L"vtoken:00fa4e0000000001:01", L"vtoken:00fa4e0000000001:02"});
  NCryptKeyName* name = nullptr;
  CHECK_NTE(o.t->EnumKeys(o.prov, nullptr, &name, &state, 0), NTE_NO_MORE_ITEMS);  // stays ended
  CHECK_NTE(o.t->FreeBuffer(state), ERROR_SUCCESS);
  CHECK_NTE(o.t->FreeBuffer(state), NTE_INVALID_PARAMETER);  // not ours any more
  int local = 0;
  CHECK_NTE(o.t->FreeBuffer(&local), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->FreeBuffer(nullptr), NTE_INVALID_PARAMETER);
  state = &local;  // a forged enumeration state
  CHECK_NTE(o.t->EnumKeys(o.prov, nullptr, &name, &state, 0), NTE_INVALID_PARAMETER);
  state = nullptr;
  CHECK_NTE(o.t->EnumKeys(o.prov, nullptr, &name, &state, 0x1000), NTE_BAD_FLAGS);
  CHECK_NTE(o.t->EnumKeys(o.prov, nullptr, nullptr, &state, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->EnumKeys(o.prov, nullptr, &name, nullptr, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->EnumKeys(0, nullptr, &name, &state, 0), NTE_INVALID_HANDLE);
  state = nullptr;
  CHECK_NTE(o.t->EnumKeys(o.prov, nullptr, &name, &state, NCRYPT_MACHINE_KEY_FLAG), NTE_NO_MORE_ITEMS);
  if (state) o.t->FreeBuffer(state);
}

TEST_CASE("without an agent there are no keys, and opening one says the device is not ready") {
  Open o;
  UseNoAgent();
  PVOID state = nullptr;
  NCryptKeyName* name = nullptr;
  CHECK_NTE(o.t->EnumKeys(o.prov, nullptr, &name, &state, 0), NTE_NO_MORE_ITEMS);
  if (state) o.t->FreeBuffer(state);
  NCRYPT_KEY_HANDLE k = 0;
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:00fa4e0000000001:01", 0, 0), NTE_DEVICE_NOT_READY);
}

TEST_CASE("OpenKey: names, legacy specs and flags") {
  Open o;
  NCRYPT_KEY_HANDLE k = 0;
  for (DWORD spec : {0u, 1u, 2u}) {
    CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:00fa4e0000000001:02", spec, 0), ERROR_SUCCESS);
    o.t->FreeKey(o.prov, k);
  }
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:00fa4e0000000001:02", 3, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:00fa4e0000000001:02", 0, NCRYPT_MACHINE_KEY_FLAG), NTE_BAD_KEYSET);
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:00fa4e0000000001:02", 0, 0x1000), NTE_BAD_FLAGS);
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:00fa4e0000000001:02", 0, NCRYPT_SILENT_FLAG), ERROR_SUCCESS);
  o.t->FreeKey(o.prov, k);
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:00fa4e0000000001:09", 0, 0), NTE_BAD_KEYSET);
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"vtoken:ffff:01", 0, 0), NTE_BAD_KEYSET);
  CHECK_NTE(o.t->OpenKey(o.prov, &k, L"someone else's key", 0, 0), NTE_BAD_KEYSET);
  CHECK_NTE(o.t->OpenKey(o.prov, &k, nullptr, 0, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->OpenKey(o.prov, nullptr, L"vtoken:00fa4e0000000001:02", 0, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->OpenKey(0, &k, L"vtoken:00fa4e0000000001:02", 0, 0), NTE_INVALID_HANDLE);
}

TEST_CASE("key properties of the RSA key") {
  Open o;
  NCRYPT_KEY_HANDLE k = o.Key(L"vtoken:00fa4e0000000001:01");
  CHECK(WideFrom(o.Prop(k, NCRYPT_ALGORITHM_GROUP_PROPERTY)) == L"RSA");
  CHECK(WideFrom(o.Prop(k, NCRYPT_ALGORITHM_PROPERTY)) == L"RSA");
  CHECK(WideFrom(o.Prop(k, NCRYPT_UNIQUE_NAME_PROPERTY)) == L"vtoken:00fa4e0000000001:01");
  CHECK(WideFrom(o.Prop(k, NCRYPT_NAME_PROPERTY)) == L"vtoken:00fa4e0000000001:01");
  CHECK(o.PropDword(k, NCRYPT_LENGTH_PROPERTY) == 2048);
  CHECK(o.PropDword(k, NCRYPT_EXPORT_POLICY_PROPERTY) == 0);
  CHECK(o.PropDword(k, NCRYPT_KEY_USAGE_PROPERTY) == NCRYPT_ALLOW_SIGNING_FLAG);
  CHECK(o.PropDword(k, NCRYPT_IMPL_TYPE_PROPERTY) == (NCRYPT_IMPL_HARDWARE_FLAG | NCRYPT_IMPL_REMOVABLE_FLAG));
  CHECK(o.PropDword(k, NCRYPT_KEY_TYPE_PROPERTY) == 0);
  CHECK(o.Prop(k, NCRYPT_CERTIFICATE_PROPERTY) == FakeCertificate());
  CHECK(o.Prop(k, NCRYPT_LENGTH_PROPERTY, NCRYPT_PERSIST_ONLY_FLAG).size() == 4);
  auto lengths = o.Prop(k, NCRYPT_LENGTHS_PROPERTY);
  REQUIRE(lengths.size() == sizeof(NCRYPT_SUPPORTED_LENGTHS));
  auto handle = o.Prop(k, NCRYPT_PROVIDER_HANDLE_PROPERTY);
  REQUIRE(handle.size() == sizeof(NCRYPT_PROV_HANDLE));
  CHECK(std::memcmp(handle.data(), &o.prov, sizeof o.prov) == 0);
  DWORD n = 0;
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, L"ECCCurveName", nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, L"No Such Property", nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, NCRYPT_PIN_PROPERTY, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, nullptr, nullptr, 0, &n, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, NCRYPT_LENGTH_PROPERTY, nullptr, 0, nullptr, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, NCRYPT_LENGTH_PROPERTY, nullptr, 0, &n, 0x1000), NTE_BAD_FLAGS);
  BYTE small[2];
  n = 0;
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, NCRYPT_LENGTH_PROPERTY, small, sizeof small, &n, 0), NTE_BUFFER_TOO_SMALL);
  CHECK(n == 4);
  o.t->FreeKey(o.prov, k);
}

TEST_CASE("key properties of the EC key") {
  Open o;
  NCRYPT_KEY_HANDLE k = o.Key(L"vtoken:00fa4e0000000001:02");
  CHECK(WideFrom(o.Prop(k, NCRYPT_ALGORITHM_GROUP_PROPERTY)) == L"ECDSA");
  CHECK(WideFrom(o.Prop(k, NCRYPT_ALGORITHM_PROPERTY)) == L"ECDSA_P256");
  CHECK(WideFrom(o.Prop(k, L"ECCCurveName")) == L"nistP256");
  CHECK(o.PropDword(k, NCRYPT_LENGTH_PROPERTY) == 256);
  DWORD n = 0;
  CHECK_NTE(o.t->GetKeyProperty(o.prov, k, NCRYPT_CERTIFICATE_PROPERTY, nullptr, 0, &n, 0), NTE_NOT_FOUND);
  o.t->FreeKey(o.prov, k);
}

TEST_CASE("provider properties and property writes") {
  Open o;
  DWORD n = 0;
  REQUIRE_NTE(o.t->GetProviderProperty(o.prov, NCRYPT_NAME_PROPERTY, nullptr, 0, &n, 0), ERROR_SUCCESS);
  std::vector<unsigned char> v(n);
  REQUIRE_NTE(o.t->GetProviderProperty(o.prov, NCRYPT_NAME_PROPERTY, v.data(), n, &n, 0), ERROR_SUCCESS);
  CHECK(WideFrom(v) == kProviderName);
  DWORD impl = 0;
  CHECK_NTE(o.t->GetProviderProperty(o.prov, NCRYPT_IMPL_TYPE_PROPERTY, reinterpret_cast<PBYTE>(&impl), 4, &n, NCRYPT_PERSIST_ONLY_FLAG), ERROR_SUCCESS);
  CHECK(impl == (NCRYPT_IMPL_HARDWARE_FLAG | NCRYPT_IMPL_REMOVABLE_FLAG));
  CHECK_NTE(o.t->GetProviderProperty(o.prov, L"Nope", nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->SetProviderProperty(o.prov, L"Nope", nullptr, 0, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->SetProviderProperty(o.prov, NCRYPT_PIN_PROPERTY, nullptr, 4, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->SetProviderProperty(o.prov, NCRYPT_PIN_PROPERTY, (PBYTE)L"1234", 10, 0x1000), NTE_BAD_FLAGS);
  CHECK_NTE(o.t->SetProviderProperty(o.prov, NCRYPT_PIN_PROPERTY, (PBYTE)L"1234", 10, 0), ERROR_SUCCESS);
  NCRYPT_KEY_HANDLE k = o.Key(L"vtoken:00fa4e0000000001:01");
  CHECK_NTE(o.t->SetKeyProperty(o.prov, k, NCRYPT_PIN_PROPERTY, (PBYTE)L"1234", 10, NCRYPT_PERSIST_ONLY_FLAG), ERROR_SUCCESS);
  CHECK_NTE(o.t->SetKeyProperty(o.prov, k, NCRYPT_EXPORT_POLICY_PROPERTY, (PBYTE)&impl, 4, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->SetKeyProperty(o.prov, 0, NCRYPT_PIN_PROPERTY, (PBYTE)L"1234", 10, 0), NTE_INVALID_HANDLE);
  o.t->FreeKey(o.prov, k);
}

TEST_CASE("ExportKey gives the public blobs and nothing else") {
  Open o;
  NCRYPT_KEY_HANDLE rsa = o.Key(L"vtoken:00fa4e0000000001:01"), ec = o.Key(L"vtoken:00fa4e0000000001:02");
  DWORD n = 0;
  REQUIRE_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0), ERROR_SUCCESS);
  std::vector<unsigned char> blob(n);
  REQUIRE_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, blob.data(), n, &n, 0), ERROR_SUCCESS);
  BCRYPT_RSAKEY_BLOB h;
  std::memcpy(&h, blob.data(), sizeof h);
  CHECK(h.Magic == BCRYPT_RSAPUBLIC_MAGIC);
  CHECK(h.BitLength == 2048);
  CHECK(h.cbPublicExp == 3);
  CHECK(h.cbModulus == 256);
  CHECK(n == sizeof h + 3 + 256);
  auto modulus = FakeRsaModulus();
  CHECK(std::memcmp(blob.data() + sizeof h + 3, modulus.data() + 1, 256) == 0);

  REQUIRE_NTE(o.t->ExportKey(o.prov, ec, 0, BCRYPT_ECCPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0), ERROR_SUCCESS);
  CHECK(n == sizeof(BCRYPT_ECCKEY_BLOB) + 64);
  blob.assign(n, 0);
  REQUIRE_NTE(o.t->ExportKey(o.prov, ec, 0, BCRYPT_ECCPUBLIC_BLOB, nullptr, blob.data(), n, &n, 0), ERROR_SUCCESS);
  BCRYPT_ECCKEY_BLOB e;
  std::memcpy(&e, blob.data(), sizeof e);
  CHECK(e.dwMagic == BCRYPT_ECDSA_PUBLIC_P256_MAGIC);
  CHECK(e.cbKey == 32);
  CHECK(blob[sizeof e] == 0x11);
  CHECK(blob[sizeof e + 32] == 0x22);

  REQUIRE_NTE(o.t->ExportKey(o.prov, rsa, 0, LEGACY_RSAPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0), ERROR_SUCCESS);
  CHECK(n == sizeof(PUBLICKEYSTRUC) + sizeof(RSAPUBKEY) + 256);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_PUBLIC_KEY_BLOB, nullptr, nullptr, 0, &n, 0), ERROR_SUCCESS);

  BYTE small[8];
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, small, sizeof small, &n, 0), NTE_BUFFER_TOO_SMALL);
  CHECK(n == sizeof h + 3 + 256);
  CHECK_NTE(o.t->ExportKey(o.prov, ec, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0), NTE_BAD_TYPE);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_ECCPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0), NTE_BAD_TYPE);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_RSAPRIVATE_BLOB, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->ExportKey(o.prov, ec, 0, BCRYPT_ECCPRIVATE_BLOB, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, L"PKCS8_PRIVATEKEY", nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, ec, BCRYPT_RSAPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, nullptr, nullptr, nullptr, 0, &n, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, nullptr, 0, nullptr, 0), NTE_INVALID_PARAMETER);
  CHECK_NTE(o.t->ExportKey(o.prov, rsa, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0x1000), NTE_BAD_FLAGS);
  CHECK_NTE(o.t->ExportKey(o.prov, 12345, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, nullptr, 0, &n, 0), NTE_INVALID_HANDLE);
  o.t->FreeKey(o.prov, rsa);
  o.t->FreeKey(o.prov, ec);
}

TEST_CASE("operations the provider does not offer say so, after checking handles") {
  Open o;
  NCRYPT_KEY_HANDLE k = o.Key(L"vtoken:00fa4e0000000001:01"), out = 0;
  DWORD n = 0;
  CHECK_NTE(o.t->CreatePersistedKey(o.prov, &out, L"RSA", L"x", 0, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->CreatePersistedKey(0, &out, L"RSA", L"x", 0, 0), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->FinalizeKey(o.prov, k, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->DeleteKey(o.prov, k, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->DeleteKey(o.prov, 0, 0), NTE_INVALID_HANDLE);
  CHECK_NTE(o.t->Encrypt(o.prov, k, nullptr, 0, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->Decrypt(o.prov, k, nullptr, 0, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->ImportKey(o.prov, 0, BCRYPT_RSAPUBLIC_BLOB, nullptr, &out, nullptr, 0, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->VerifySignature(o.prov, k, nullptr, nullptr, 0, nullptr, 0, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->PromptUser(o.prov, k, nullptr, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->NotifyChangeKey(o.prov, nullptr, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->SecretAgreement(o.prov, k, k, nullptr, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->DeriveKey(o.prov, 0, nullptr, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->FreeSecret(o.prov, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->KeyDerivation(o.prov, k, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->CreateClaim(o.prov, k, 0, 0, nullptr, nullptr, 0, &n, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->VerifyClaim(o.prov, k, 0, 0, nullptr, nullptr, 0, nullptr, 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->IsAlgSupported(o.prov, L"RSA", 0), ERROR_SUCCESS);
  CHECK_NTE(o.t->IsAlgSupported(o.prov, L"ECDSA_P384", 0), ERROR_SUCCESS);
  CHECK_NTE(o.t->IsAlgSupported(o.prov, L"AES", 0), NTE_NOT_SUPPORTED);
  CHECK_NTE(o.t->IsAlgSupported(o.prov, nullptr, 0), NTE_INVALID_PARAMETER);
  DWORD count = 0;
  NCryptAlgorithmName* algs = nullptr;
  REQUIRE_NTE(o.t->EnumAlgorithms(o.prov, NCRYPT_SIGNATURE_OPERATION, &count, &algs, 0), ERROR_SUCCESS);
  CHECK(count == 4);
  CHECK(std::wstring(algs[0].pszName) == L"RSA");
  CHECK_NTE(o.t->FreeBuffer(algs), ERROR_SUCCESS);
  CHECK_NTE(o.t->EnumAlgorithms(o.prov, NCRYPT_CIPHER_OPERATION, &count, &algs, 0), NTE_NOT_SUPPORTED);
  o.t->FreeKey(o.prov, k);
}
