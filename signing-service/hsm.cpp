#include "hsm.h"

#include <dlfcn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include <cstring>

namespace vtoken::service {
namespace {

constexpr unsigned long kGeneralError = CKR_GENERAL_ERROR;

std::string Rv(const char* fn, CK_RV rv) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s failed: 0x%lx", fn, static_cast<unsigned long>(rv));
  return buf;
}

std::string TrimLabel(const CK_UTF8CHAR* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

Bytes EcParams(KeyType t) {
  if (t == KeyType::kP384) return {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
  return {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
}

CK_MECHANISM_TYPE HashMech(HashAlg h) {
  switch (h) {
    case HashAlg::kSha256: return CKM_SHA256;
    case HashAlg::kSha384: return CKM_SHA384;
    case HashAlg::kSha512: return CKM_SHA512;
  }
  return CKM_SHA256;
}

CK_RSA_PKCS_MGF_TYPE MgfType(HashAlg h) {
  switch (h) {
    case HashAlg::kSha256: return CKG_MGF1_SHA256;
    case HashAlg::kSha384: return CKG_MGF1_SHA384;
    case HashAlg::kSha512: return CKG_MGF1_SHA512;
  }
  return CKG_MGF1_SHA256;
}

}  // namespace

struct Hsm::Module {
  void* handle = nullptr;
  CK_FUNCTION_LIST_PTR f = nullptr;
  bool initialized = false;
  ~Module() {
    if (initialized) f->C_Finalize(nullptr);
    if (handle) dlclose(handle);
  }
};

namespace {

Result<std::shared_ptr<Hsm::Module>> LoadModule(const std::string& path) {
  auto m = std::make_shared<Hsm::Module>();
  m->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!m->handle) return Fail(kGeneralError, "cannot load PKCS#11 module " + path + ": " + dlerror());
  auto get = reinterpret_cast<CK_C_GetFunctionList>(dlsym(m->handle, "C_GetFunctionList"));
  if (!get) return Fail(kGeneralError, path + " has no C_GetFunctionList");
  if (CK_RV rv = get(&m->f); rv != CKR_OK) return Fail(rv, Rv("C_GetFunctionList", rv));
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = m->f->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) return Fail(rv, Rv("C_Initialize", rv));
  m->initialized = rv == CKR_OK;
  return m;
}

Result<std::vector<std::pair<CK_SLOT_ID, CK_TOKEN_INFO>>> Tokens(CK_FUNCTION_LIST_PTR f) {
  CK_ULONG n = 0;
  if (CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &n); rv != CKR_OK) return Fail(rv, Rv("C_GetSlotList", rv));
  std::vector<CK_SLOT_ID> slots(n);
  if (CK_RV rv = f->C_GetSlotList(CK_TRUE, slots.data(), &n); rv != CKR_OK)
    return Fail(rv, Rv("C_GetSlotList", rv));
  slots.resize(n);
  std::vector<std::pair<CK_SLOT_ID, CK_TOKEN_INFO>> out;
  for (auto s : slots) {
    CK_TOKEN_INFO info{};
    if (f->C_GetTokenInfo(s, &info) == CKR_OK) out.emplace_back(s, info);
  }
  return out;
}

Result<CK_SLOT_ID> SlotByLabel(CK_FUNCTION_LIST_PTR f, const std::string& label) {
  auto tokens = VT_TRY(Tokens(f));
  for (auto& [slot, info] : tokens)
    if ((info.flags & CKF_TOKEN_INITIALIZED) && TrimLabel(info.label, sizeof info.label) == label)
      return slot;
  return Fail(CKR_TOKEN_NOT_PRESENT, "no token labelled \"" + label + "\"");
}

}  // namespace

Result<void> Hsm::InitToken(const std::string& module, const std::string& label,
                            const Secret& so_pin, const Secret& user_pin) {
  auto m = VT_TRY(LoadModule(module));
  auto f = m->f;
  auto tokens = VT_TRY(Tokens(f));
  std::optional<CK_SLOT_ID> free_slot;
  for (auto& [slot, info] : tokens)
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) {
      free_slot = slot;
      break;
    }
  if (!free_slot) return Fail(CKR_SLOT_ID_INVALID, "no free slot to initialize a token in");
  CK_UTF8CHAR padded[32];
  std::memset(padded, ' ', sizeof padded);
  std::memcpy(padded, label.data(), std::min(label.size(), sizeof padded));
  if (CK_RV rv = f->C_InitToken(*free_slot, const_cast<CK_UTF8CHAR*>(so_pin.data()), so_pin.size(), padded);
      rv != CKR_OK)
    return Fail(rv, Rv("C_InitToken", rv));
  auto slot = VT_TRY(SlotByLabel(f, label));  // SoftHSM renumbers the slot after init
  CK_SESSION_HANDLE s = 0;
  if (CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s); rv != CKR_OK)
    return Fail(rv, Rv("C_OpenSession", rv));
  CK_RV rv = f->C_Login(s, CKU_SO, const_cast<CK_UTF8CHAR*>(so_pin.data()), so_pin.size());
  if (rv == CKR_OK) rv = f->C_InitPIN(s, const_cast<CK_UTF8CHAR*>(user_pin.data()), user_pin.size());
  f->C_Logout(s);
  f->C_CloseSession(s);
  if (rv != CKR_OK) return Fail(rv, Rv("C_InitPIN", rv));
  return {};
}

Result<std::unique_ptr<Hsm>> Hsm::Open(const std::string& module, const std::string& label,
                                       const Secret& pin, std::size_t max_sessions) {
  auto m = VT_TRY(LoadModule(module));
  auto slot = VT_TRY(SlotByLabel(m->f, label));
  std::unique_ptr<Hsm> hsm(new Hsm(m, slot, max_sessions));
  auto s = VT_TRY(hsm->Acquire());
  CK_RV rv = m->f->C_Login(s, CKU_USER, const_cast<CK_UTF8CHAR*>(pin.data()), pin.size());
  hsm->Release(s, false);
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return Fail(rv, Rv("C_Login", rv));
  return hsm;
}

Hsm::Hsm(std::shared_ptr<Module> module, CK_SLOT_ID slot, std::size_t max_sessions)
    : module_(std::move(module)), slot_(slot), max_sessions_(max_sessions) {}

Hsm::~Hsm() {
  for (auto s : idle_) module_->f->C_CloseSession(s);
}

Result<CK_SESSION_HANDLE> Hsm::Acquire() {
  std::unique_lock lock(mutex_);
  available_.wait(lock, [&] { return !idle_.empty() || open_ < max_sessions_; });
  if (!idle_.empty()) {
    auto s = idle_.back();
    idle_.pop_back();
    return s;
  }
  ++open_;
  lock.unlock();
  CK_SESSION_HANDLE s = 0;
  CK_RV rv = module_->f->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
  if (rv != CKR_OK) {
    lock.lock();
    --open_;
    available_.notify_one();
    return Fail(rv, Rv("C_OpenSession", rv));
  }
  return s;
}

void Hsm::Release(CK_SESSION_HANDLE s, bool broken) {
  std::lock_guard lock(mutex_);
  if (broken) {
    module_->f->C_CloseSession(s);
    --open_;
  } else {
    idle_.push_back(s);
  }
  available_.notify_one();
}

// Borrowed session, returned to the pool on scope exit.
class Hsm::Lease {
 public:
  Lease(Hsm& h, CK_SESSION_HANDLE s) : h_(h), s_(s) {}
  ~Lease() { h_.Release(s_, broken_); }
  CK_SESSION_HANDLE get() const { return s_; }
  void MarkBroken() { broken_ = true; }

 private:
  Hsm& h_;
  CK_SESSION_HANDLE s_;
  bool broken_ = false;
};

Result<CK_OBJECT_HANDLE> Hsm::FindKey(CK_SESSION_HANDLE s, const std::string& id, CK_OBJECT_CLASS cls) {
  auto f = module_->f;
  CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                         {CKA_ID, const_cast<char*>(id.data()), id.size()}};
  if (CK_RV rv = f->C_FindObjectsInit(s, tmpl, 2); rv != CKR_OK) return Fail(rv, Rv("C_FindObjectsInit", rv));
  CK_OBJECT_HANDLE h = 0;
  CK_ULONG n = 0;
  CK_RV rv = f->C_FindObjects(s, &h, 1, &n);
  f->C_FindObjectsFinal(s);
  if (rv != CKR_OK) return Fail(rv, Rv("C_FindObjects", rv));
  if (n == 0) return Fail(CKR_KEY_HANDLE_INVALID, "no key with id " + id + " in the HSM");
  return h;
}

Result<ossl::PKey> Hsm::GenerateKeyPair(KeyType type, const std::string& id, const std::string& label) {
  auto s = VT_TRY(Acquire());
  Lease lease(*this, s);
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ULONG bits = static_cast<CK_ULONG>(KeyBits(type));
  CK_BYTE exponent[] = {1, 0, 1};
  Bytes ec_params = EcParams(type);
  auto* idp = const_cast<char*>(id.data());
  auto* lp = const_cast<char*>(label.data());
  std::vector<CK_ATTRIBUTE> pub = {{CKA_TOKEN, &yes, sizeof yes},
                                   {CKA_PRIVATE, &no, sizeof no},
                                   {CKA_VERIFY, &yes, sizeof yes},
                                   {CKA_ID, idp, id.size()},
                                   {CKA_LABEL, lp, label.size()}};
  std::vector<CK_ATTRIBUTE> priv = {{CKA_TOKEN, &yes, sizeof yes},
                                    {CKA_PRIVATE, &yes, sizeof yes},
                                    {CKA_SENSITIVE, &yes, sizeof yes},
                                    {CKA_EXTRACTABLE, &no, sizeof no},
                                    {CKA_SIGN, &yes, sizeof yes},
                                    {CKA_ID, idp, id.size()},
                                    {CKA_LABEL, lp, label.size()}};
  CK_MECHANISM mech{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  if (IsRsa(type)) {
    pub.push_back({CKA_MODULUS_BITS, &bits, sizeof bits});
    pub.push_back({CKA_PUBLIC_EXPONENT, exponent, sizeof exponent});
  } else {
    mech.mechanism = CKM_EC_KEY_PAIR_GEN;
    pub.push_back({CKA_EC_PARAMS, ec_params.data(), ec_params.size()});
  }
  CK_OBJECT_HANDLE hpub = 0, hpriv = 0;
  CK_RV rv = module_->f->C_GenerateKeyPair(s, &mech, pub.data(), pub.size(), priv.data(), priv.size(),
                                           &hpub, &hpriv);
  if (rv != CKR_OK) return Fail(rv, Rv("C_GenerateKeyPair", rv));
  {
    std::lock_guard lock(mutex_);
    key_cache_[id] = hpriv;
  }
  return PublicKey(id, type);
}

Result<ossl::PKey> Hsm::PublicKey(const std::string& id, KeyType type) {
  auto s = VT_TRY(Acquire());
  Lease lease(*this, s);
  auto h = VT_TRY(FindKey(s, id, CKO_PUBLIC_KEY));
  auto f = module_->f;
  auto get = [&](CK_ATTRIBUTE_TYPE t) -> Result<Bytes> {
    CK_ATTRIBUTE a{t, nullptr, 0};
    if (CK_RV rv = f->C_GetAttributeValue(s, h, &a, 1); rv != CKR_OK) return Fail(rv, Rv("C_GetAttributeValue", rv));
    Bytes v(a.ulValueLen);
    a.pValue = v.data();
    if (CK_RV rv = f->C_GetAttributeValue(s, h, &a, 1); rv != CKR_OK) return Fail(rv, Rv("C_GetAttributeValue", rv));
    return v;
  };
  using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
  using Params = std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
  ParamBld bld(OSSL_PARAM_BLD_new());
  ossl::Bignum n, e;
  Bytes point;
  const char* keytype = "RSA";
  if (IsRsa(type)) {
    Bytes mod = VT_TRY(get(CKA_MODULUS));
    Bytes exp = VT_TRY(get(CKA_PUBLIC_EXPONENT));
    n.reset(BN_bin2bn(mod.data(), static_cast<int>(mod.size()), nullptr));
    e.reset(BN_bin2bn(exp.data(), static_cast<int>(exp.size()), nullptr));
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get());
  } else {
    keytype = "EC";
    Bytes wrapped = VT_TRY(get(CKA_EC_POINT));  // DER OCTET STRING around the point
    const unsigned char* p = wrapped.data();
    ASN1_OCTET_STRING* os = d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(wrapped.size()));
    if (os) {
      point.assign(ASN1_STRING_get0_data(os), ASN1_STRING_get0_data(os) + ASN1_STRING_length(os));
      ASN1_OCTET_STRING_free(os);
    } else {
      point = wrapped;  // some modules return the raw point
    }
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                    type == KeyType::kP384 ? "secp384r1" : "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, keytype, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return Fail(kGeneralError, "cannot build the public key of " + id);
  return ossl::PKey(pkey);
}

Result<Bytes> Hsm::Sign(const std::string& id, KeyType type, const SignPlan& plan, const Bytes& hash) {
  auto s = VT_TRY(Acquire());
  Lease lease(*this, s);
  auto f = module_->f;
  CK_OBJECT_HANDLE key = 0;
  bool cached = false;
  {
    std::lock_guard lock(mutex_);
    if (auto it = key_cache_.find(id); it != key_cache_.end()) {
      key = it->second;
      cached = true;
    }
  }
  if (!cached) {
    key = VT_TRY(FindKey(s, id, CKO_PRIVATE_KEY));
    std::lock_guard lock(mutex_);
    key_cache_[id] = key;
  }
  Bytes input = hash;
  CK_MECHANISM mech{CKM_RSA_PKCS, nullptr, 0};
  CK_RSA_PKCS_PSS_PARAMS pss{};
  switch (plan.kind) {
    case SignPlan::Kind::kRsaPkcs1:
      input = DigestInfo(plan.hash, hash);
      break;
    case SignPlan::Kind::kRsaPss:
      pss.hashAlg = HashMech(plan.pss.hash);
      pss.mgf = MgfType(plan.pss.mgf1_hash);
      pss.sLen = plan.pss.salt_length;
      mech = {CKM_RSA_PKCS_PSS, &pss, sizeof pss};
      break;
    case SignPlan::Kind::kEcdsa:
      mech.mechanism = CKM_ECDSA;
      break;
  }
  CK_RV rv = f->C_SignInit(s, &mech, key);
  if ((rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) && cached) {
    std::lock_guard lock(mutex_);
    key_cache_.erase(id);
  }
  if (rv != CKR_OK) return Fail(rv, Rv("C_SignInit", rv));
  Bytes sig(1024);
  CK_ULONG len = sig.size();
  rv = f->C_Sign(s, input.data(), input.size(), sig.data(), &len);
  if (rv != CKR_OK) {
    lease.MarkBroken();  // an operation may still be active on it
    return Fail(rv, Rv("C_Sign", rv));
  }
  sig.resize(len);
  if (plan.kind == SignPlan::Kind::kEcdsa) {
    auto der = EcdsaRawToDer(sig);
    if (!der) return Fail(kGeneralError, "bad ECDSA signature from the HSM");
    return *der;
  }
  (void)type;
  return sig;
}

Result<void> Hsm::DestroyKeyPair(const std::string& id) {
  auto s = VT_TRY(Acquire());
  Lease lease(*this, s);
  for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
    auto h = FindKey(s, id, cls);
    if (h) module_->f->C_DestroyObject(s, *h);
  }
  std::lock_guard lock(mutex_);
  key_cache_.erase(id);
  return {};
}

}  // namespace vtoken::service
