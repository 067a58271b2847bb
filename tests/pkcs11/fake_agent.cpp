#include "fake_agent.h"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

#include "pkcs11/crypto.h"

namespace vtoken::pkcs11::test {
namespace {

const wire::Bytes kP256{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
const wire::Bytes kP384{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

wire::Bytes U(CK_ULONG v) {
  wire::Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}
wire::Bytes B(bool v) { return wire::Bytes{static_cast<std::uint8_t>(v)}; }
wire::Bytes T(const std::string& s) { return wire::Bytes(s.begin(), s.end()); }

wire::Bytes BnParam(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  wire::Bytes out(BN_num_bytes(bn));
  BN_bn2bin(bn, out.data());
  BN_free(bn);
  return out;
}

ossl::PKey Generate(const char* type, const char* param_name, const wire::Json& value) {
  ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY_keygen_init(ctx.get());
  if (std::string(type) == "RSA") {
    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), value.get<int>());
  } else {
    EVP_PKEY_CTX_set_group_name(ctx.get(), value.get<std::string>().c_str());
  }
  (void)param_name;
  EVP_PKEY* k = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &k) <= 0) throw std::runtime_error("keygen failed");
  return ossl::PKey(k);
}

std::uint64_t Id(const wire::Json& req) { return req.value("id", std::uint64_t{0}); }

wire::Json Err(const wire::Json& req, unsigned long rv, const std::string& msg) {
  return wire::ErrorReply(Id(req), Error{rv, msg});
}

const wire::Bytes* AttrIn(const wire::Attributes& a, CK_ATTRIBUTE_TYPE t) {
  for (const auto& [type, v] : a)
    if (type == t) return &v;
  return nullptr;
}

void SetAttr(wire::Attributes& a, CK_ATTRIBUTE_TYPE t, wire::Bytes v) {
  for (auto& [type, value] : a)
    if (type == t) {
      value = std::move(v);
      return;
    }
  a.emplace_back(t, std::move(v));
}

}  // namespace

struct FakeAgent::Conn {
  int fd = -1;
  std::uint64_t id = 0;
  std::shared_ptr<Conn> app;  // a lane: the connection whose logins it uses
  std::mutex write_mutex;
  std::mutex mutex;  // logins, workers
  std::map<CK_SLOT_ID, unsigned> logins;
  std::set<CK_SLOT_ID> context_ok;
  std::vector<std::thread> workers;
  bool events = false;
  void Send(const wire::Json& m) {
    std::lock_guard lock(write_mutex);
    (void)wire::WriteFrame(fd, m);
  }
};

FakeAgent::FakeAgent(std::filesystem::path socket) : socket_(std::move(socket)) {
  AddKeyPair(Generate("RSA", "", 2048), 1, {0x01}, true);
  AddKeyPair(Generate("EC", "", "P-256"), 1, {0x02}, true);
  Listen();
}

FakeAgent::~FakeAgent() { Crash(); }

void FakeAgent::Listen() {
  std::filesystem::create_directories(socket_.parent_path());
  std::filesystem::remove(socket_);
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_.c_str(), sizeof(addr.sun_path) - 1);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("fake agent cannot listen");
  stop_ = false;
  accept_ = std::thread([this] { AcceptLoop(); });
}

void FakeAgent::AcceptLoop() {
  std::vector<std::thread> servers;
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto c = std::make_shared<Conn>();
    c->fd = fd;
    {
      std::lock_guard lock(mutex_);
      c->id = ++next_conn_id_;
      conns_.push_back(c);
    }
    servers.emplace_back([this, c] { Serve(c); });
  }
  {
    std::lock_guard lock(mutex_);
    for (auto& c : conns_) ::shutdown(c->fd, SHUT_RDWR);
  }
  for (auto& t : servers) t.join();
  std::lock_guard lock(mutex_);
  for (auto& c : conns_) ::close(c->fd);
  conns_.clear();
}

void FakeAgent::Crash() {
  if (listen_fd_ < 0) return;
  stop_ = true;
  accept_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::filesystem::remove(socket_);
}

void FakeAgent::Restart() { Listen(); }

int FakeAgent::Count(const std::string& op) {
  std::lock_guard lock(mutex_);
  return counts_[op];
}

void FakeAgent::Serve(std::shared_ptr<Conn> c) {
  bool greeted = false;
  for (;;) {
    auto frame = wire::ReadFrame(c->fd);
    if (!frame || !*frame) break;
    wire::Json req = std::move(**frame);
    const std::string op = req.value("op", "");
    {
      std::lock_guard lock(mutex_);
      counts_[op]++;
    }
    if (!greeted) {
      if (op != "hello") break;
      greeted = true;
      c->events = req.value("events", false);
      wire::Json reply = wire::Ok(Id(req));
      if (const wire::Json* lane_of = wire::Find(req, "lane_of")) {
        std::lock_guard lock(mutex_);
        counts_["lane"]++;
        for (auto& other : conns_)
          if (other->id == lane_of->get<std::uint64_t>() && !other->app) c->app = other;
        if (!c->app) {
          c->Send(Err(req, CKR_ARGUMENTS_BAD, "no such connection"));
          break;
        }
      }
      reply["version"] = 1;
      reply["agent"] = "fake-vtokend";
      if (offer_lanes) reply["connection"] = c->id;
      c->Send(reply);
      continue;
    }
    std::lock_guard lock(c->mutex);
    c->workers.emplace_back([this, c, req = std::move(req)] {
      wire::Json reply;
      try {
        const std::string lane_op = req.value("op", "");
        if (c->app && lane_op != "sign" && lane_op != "decrypt")
          reply = Err(req, CKR_FUNCTION_NOT_SUPPORTED, "only sign and decrypt on a lane");
        else
          reply = Handle(c->app ? *c->app : *c, req);
      } catch (const std::exception& e) {
        reply = Err(req, CKR_GENERAL_ERROR, e.what());
      }
      c->Send(reply);
    });
  }
  ::shutdown(c->fd, SHUT_RDWR);
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(c->mutex);
    workers.swap(c->workers);
  }
  for (auto& t : workers) t.join();
}

std::uint64_t FakeAgent::AddKeyPair(ossl::PKey key, CK_SLOT_ID slot, const wire::Bytes& id, bool token) {
  std::shared_ptr<EVP_PKEY> shared(key.release(), EVP_PKEY_free);
  const bool rsa = EVP_PKEY_is_a(shared.get(), "RSA");
  wire::Attributes common{{CKA_KEY_TYPE, U(rsa ? CKK_RSA : CKK_EC)},
                          {CKA_TOKEN, B(token)},
                          {CKA_ID, id},
                          {CKA_LABEL, T(rsa ? "rsa key" : "ec key")}};
  if (rsa) {
    common.emplace_back(CKA_MODULUS, BnParam(shared.get(), OSSL_PKEY_PARAM_RSA_N));
    common.emplace_back(CKA_PUBLIC_EXPONENT, BnParam(shared.get(), OSSL_PKEY_PARAM_RSA_E));
  } else {
    char group[64] = {};
    EVP_PKEY_get_utf8_string_param(shared.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, nullptr);
    common.emplace_back(CKA_EC_PARAMS, std::string(group) == "secp384r1" ? kP384 : kP256);
    unsigned char point[200];
    size_t n = 0;
    EVP_PKEY_get_octet_string_param(shared.get(), OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &n);
    wire::Bytes der{0x04, static_cast<std::uint8_t>(n)};
    der.insert(der.end(), point, point + n);
    common.emplace_back(CKA_EC_POINT, der);
  }
  Obj pub{slot, common, {}, nullptr};
  pub.attrs.emplace_back(CKA_CLASS, U(CKO_PUBLIC_KEY));
  pub.attrs.emplace_back(CKA_PRIVATE, B(false));
  pub.attrs.emplace_back(CKA_VERIFY, B(true));
  if (rsa) pub.attrs.emplace_back(CKA_MODULUS_BITS, U(EVP_PKEY_get_bits(shared.get())));
  Obj priv{slot, common, {CKA_PRIVATE_EXPONENT}, shared};
  priv.attrs.emplace_back(CKA_CLASS, U(CKO_PRIVATE_KEY));
  priv.attrs.emplace_back(CKA_PRIVATE, B(true));
  priv.attrs.emplace_back(CKA_SIGN, B(true));
  priv.attrs.emplace_back(CKA_DECRYPT, B(rsa));
  priv.attrs.emplace_back(CKA_SENSITIVE, B(true));
  priv.attrs.emplace_back(CKA_ALWAYS_AUTHENTICATE, B(false));
  const std::uint64_t pub_oid = next_oid_++;
  objects_[pub_oid] = std::move(pub);
  objects_[next_oid_++] = std::move(priv);
  return pub_oid;
}

wire::Json FakeAgent::ObjectJson(std::uint64_t oid) {
  const Obj& o = objects_.at(oid);
  wire::Attributes attrs = o.attrs;
  if (always_authenticate && o.key) SetAttr(attrs, CKA_ALWAYS_AUTHENTICATE, B(true));
  return wire::Json{{"oid", oid}, {"attrs", wire::EncodeAttributes(attrs)}, {"sensitive", o.sensitive}};
}

wire::Json FakeAgent::SlotsJson() {
  auto slot = [](CK_SLOT_ID id, const char* kind, bool present, std::uint64_t gen, const char* label,
                 CK_FLAGS flags) {
    return wire::Json{{"slot_id", id},
                      {"kind", kind},
                      {"name", label},
                      {"description", std::string("fake ") + kind + " slot"},
                      {"present", present},
                      {"generation", gen},
                      {"token",
                       {{"label", label},
                        {"manufacturer", "vtoken"},
                        {"model", "Fake"},
                        {"serial", "serial" + std::to_string(id)},
                        {"flags", flags},
                        {"min_pin", 4u},
                        {"max_pin", 16u}}}};
  };
  const CK_FLAGS ready = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
  wire::Json list = wire::Json::array();
  list.push_back(slot(1, "emulated", present_, generation_, "fake", ready));
  if (free_initialized_) {
    list.push_back(slot(2, "emulated", true, generation_, "new", CKF_RNG | CKF_LOGIN_REQUIRED | CKF_TOKEN_INITIALIZED));
    list.push_back(slot(3, "free", true, 0, "", CKF_RNG | CKF_LOGIN_REQUIRED));
  } else {
    list.push_back(slot(2, "free", true, 0, "", CKF_RNG | CKF_LOGIN_REQUIRED));
  }
  return wire::Json{{"slots", list}};
}

void FakeAgent::Broadcast(const wire::Json& event) {
  std::vector<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lock(mutex_);
    conns = conns_;
  }
  for (auto& c : conns)
    if (c->events) c->Send(event);
}

void FakeAgent::SetPresent(bool present) {
  wire::Json event;
  std::vector<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lock(mutex_);
    present_ = present;
    conns = conns_;
    event = SlotsJson();
  }
  for (auto& c : conns) {
    std::lock_guard lock(c->mutex);
    c->logins.erase(1);
  }
  event["event"] = "slots";
  Broadcast(event);
}

wire::Json FakeAgent::Handle(Conn& c, const wire::Json& req) {
  const std::string op = req.value("op", "");
  const CK_SLOT_ID slot = req.value("slot_id", CK_SLOT_ID{0});
  std::unique_lock lock(mutex_);
  if (op == "slots") {
    wire::Json r = SlotsJson();
    r["id"] = Id(req);
    r["ok"] = true;
    return r;
  }
  if (slot == 1 && !present_) return Err(req, CKR_TOKEN_NOT_PRESENT, "unplugged");
  auto logged = [&](unsigned user) {
    std::lock_guard l(c.mutex);
    auto it = c.logins.find(slot);
    return it != c.logins.end() && it->second == user;
  };
  if (op == "login") {
    const unsigned user = req.at("user_type").get<unsigned>();
    auto pin = wire::GetOptionalSecret(req, "pin");
    const std::string expected = user == 0 ? "12345678" : "1234";
    if (!pin || !*pin || (*pin)->view() != expected) return Err(req, CKR_PIN_INCORRECT, "wrong PIN");
    std::lock_guard l(c.mutex);
    if (user == 2) c.context_ok.insert(slot);
    else c.logins[slot] = user;
    return wire::Ok(Id(req));
  }
  if (op == "logout") {
    std::lock_guard l(c.mutex);
    c.logins.erase(slot);
    return wire::Ok(Id(req));
  }
  if (op == "objects") {
    wire::Json list = wire::Json::array();
    for (const auto& [oid, o] : objects_) {
      if (o.slot != slot) continue;
      const auto* priv = AttrIn(o.attrs, CKA_PRIVATE);
      if (priv && (*priv)[0] && !logged(1)) continue;
      list.push_back(ObjectJson(oid));
    }
    wire::Json r = wire::Ok(Id(req));
    r["objects"] = list;
    return r;
  }
  if (op == "init_token") {
    free_initialized_ = true;
    wire::Json event = SlotsJson();
    event["event"] = "slots";
    lock.unlock();
    Broadcast(event);
    return wire::Ok(Id(req));
  }
  if (op == "init_pin" || op == "set_pin") return wire::Ok(Id(req));
  if (op == "create_object") {
    auto attrs = wire::DecodeAttributes(req, "attrs");
    if (!attrs) return Err(req, CKR_TEMPLATE_INCONSISTENT, "bad attrs");
    const std::uint64_t oid = next_oid_++;
    objects_[oid] = Obj{slot, *attrs, {}, nullptr};
    wire::Json r = wire::Ok(Id(req));
    r["object"] = ObjectJson(oid);
    return r;
  }
  const std::uint64_t oid = req.value("oid", std::uint64_t{0});
  if (op == "destroy_object") {
    if (!objects_.erase(oid)) return Err(req, CKR_OBJECT_HANDLE_INVALID, "no such object");
    return wire::Ok(Id(req));
  }
  if (op == "set_attributes") {
    auto attrs = wire::DecodeAttributes(req, "attrs");
    auto it = objects_.find(oid);
    if (it == objects_.end() || !attrs) return Err(req, CKR_OBJECT_HANDLE_INVALID, "no such object");
    for (auto& [t, v] : *attrs) SetAttr(it->second.attrs, t, v);
    wire::Json r = wire::Ok(Id(req));
    r["object"] = ObjectJson(oid);
    return r;
  }
  if (op == "generate_key_pair") {
    if (!logged(1)) return Err(req, CKR_USER_NOT_LOGGED_IN, "login first");
    auto pub = wire::DecodeAttributes(req, "public_attrs").value_or(wire::Attributes{});
    auto priv = wire::DecodeAttributes(req, "private_attrs").value_or(wire::Attributes{});
    const auto mech = req.at("mechanism").get<CK_MECHANISM_TYPE>();
    ossl::PKey key;
    if (mech == CKM_RSA_PKCS_KEY_PAIR_GEN) {
      CK_ULONG bits = 2048;
      if (const auto* b = AttrIn(pub, CKA_MODULUS_BITS)) std::memcpy(&bits, b->data(), sizeof bits);
      lock.unlock();
      key = Generate("RSA", "", static_cast<int>(bits));
      lock.lock();
    } else {
      const auto* params = AttrIn(pub, CKA_EC_PARAMS);
      key = Generate("EC", "", params && *params == kP384 ? "P-384" : "P-256");
    }
    const auto* id = AttrIn(priv, CKA_ID);
    const auto* token = AttrIn(priv, CKA_TOKEN);
    const std::uint64_t pub_oid = AddKeyPair(std::move(key), slot, id ? *id : wire::Bytes{0x99}, token && (*token)[0]);
    ++generation_;
    wire::Json r = wire::Ok(Id(req));
    r["public"] = ObjectJson(pub_oid);
    r["private"] = ObjectJson(pub_oid + 1);
    wire::Json event{{"event", "objects"}, {"slot_id", slot}, {"generation", generation_}};
    lock.unlock();
    Broadcast(event);
    return r;
  }
  if (op == "sign" || op == "decrypt") {
    auto it = objects_.find(oid);
    if (it == objects_.end() || !it->second.key) return Err(req, CKR_OBJECT_HANDLE_INVALID, "no such key");
    if (!logged(1)) return Err(req, CKR_USER_NOT_LOGGED_IN, "login first");
    if (always_authenticate) {
      std::lock_guard l(c.mutex);
      if (!c.context_ok.erase(slot)) return Err(req, CKR_USER_NOT_LOGGED_IN, "context login needed");
    }
    std::shared_ptr<EVP_PKEY> key = it->second.key;
    lock.unlock();
    const auto mech = req.at("mechanism").get<CK_MECHANISM_TYPE>();
    const wire::Bytes data = *wire::GetBytes(req, "data");
    const wire::Json* params = wire::Find(req, "params");
    ossl::PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    wire::Bytes out(1024);
    size_t n = out.size();
    if (op == "decrypt") {
      EVP_PKEY_decrypt_init(ctx.get());
      if (mech == CKM_RSA_PKCS_OAEP) {
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING);
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), DigestFor(params->at("hash").get<CK_MECHANISM_TYPE>()));
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), DigestFor(HashOfMgf(params->at("mgf").get<CK_ULONG>())));
      } else {
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING);
      }
      if (EVP_PKEY_decrypt(ctx.get(), out.data(), &n, data.data(), data.size()) <= 0)
        return Err(req, CKR_ENCRYPTED_DATA_INVALID, "decryption failed");
      out.resize(n);
      wire::Json r = wire::Ok(Id(req));
      r["plaintext"] = wire::Binary(out);
      return r;
    }
    const int now = ++parallel_;
    for (int m = max_parallel_.load(); now > m && !max_parallel_.compare_exchange_weak(m, now);) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(sign_delay_ms.load()));
    ++delays_over_;
    --parallel_;
    EVP_PKEY_sign_init(ctx.get());
    if (mech == CKM_RSA_PKCS) {
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING);
    } else if (mech == CKM_RSA_PKCS_PSS) {
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_signature_md(ctx.get(), DigestFor(params->at("hash").get<CK_MECHANISM_TYPE>()));
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), DigestFor(HashOfMgf(params->at("mgf").get<CK_ULONG>())));
      EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), params->at("salt_len").get<int>());
    } else if (mech != CKM_ECDSA) {
      return Err(req, CKR_MECHANISM_INVALID, "raw mechanisms only");
    }
    if (EVP_PKEY_sign(ctx.get(), out.data(), &n, data.data(), data.size()) <= 0)
      return Err(req, CKR_DATA_INVALID, "signing failed");
    out.resize(n);
    if (mech == CKM_ECDSA) {  // DER -> r||s
      const unsigned char* p = out.data();
      ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(out.size()));
      const int half = (EVP_PKEY_get_bits(key.get()) + 7) / 8;
      wire::Bytes raw(2 * half);
      BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), half);
      BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + half, half);
      ECDSA_SIG_free(sig);
      out = raw;
    }
    wire::Json r = wire::Ok(Id(req));
    r["signature"] = wire::Binary(out);
    return r;
  }
  return Err(req, CKR_FUNCTION_NOT_SUPPORTED, "unknown op " + op);
}

}  // namespace vtoken::pkcs11::test
