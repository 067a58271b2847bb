#include "conformance/harness.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

namespace vtoken::conformance {

namespace {

struct Stopped {
  std::string why;
};

std::string Trim(const unsigned char* p, std::size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

const Bytes kOidP256 = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
const Bytes kOidP384 = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

std::string CkrName(CK_RV rv) {
  struct Entry {
    CK_RV value;
    const char* name;
  };
  static const Entry kTable[] = {
#define VT_CKR(n) {n, #n},
#include "conformance/ckr_table.inc"
#undef VT_CKR
  };
  for (const auto& e : kTable)
    if (e.value == rv) return e.name;
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR_0x%lx", rv);
  return buf;
}

std::string TokenFlags(CK_FLAGS f) {
  static const std::pair<CK_FLAGS, const char*> kBits[] = {
      {CKF_RNG, "RNG"},
      {CKF_WRITE_PROTECTED, "WRITE_PROTECTED"},
      {CKF_LOGIN_REQUIRED, "LOGIN_REQUIRED"},
      {CKF_USER_PIN_INITIALIZED, "USER_PIN_INITIALIZED"},
      {CKF_TOKEN_INITIALIZED, "TOKEN_INITIALIZED"},
      {CKF_PROTECTED_AUTHENTICATION_PATH, "PROTECTED_AUTHENTICATION_PATH"},
  };
  std::string s;
  for (auto [bit, name] : kBits)
    if (f & bit) s += (s.empty() ? "" : "|") + std::string(name);
  std::string pins = PinFlags(f);
  if (!pins.empty()) s += (s.empty() ? "" : "|") + pins;
  return s;
}

std::string PinFlags(CK_FLAGS f) {
  static const std::pair<CK_FLAGS, const char*> kBits[] = {
      {CKF_USER_PIN_COUNT_LOW, "USER_PIN_COUNT_LOW"}, {CKF_USER_PIN_FINAL_TRY, "USER_PIN_FINAL_TRY"},
      {CKF_USER_PIN_LOCKED, "USER_PIN_LOCKED"},       {CKF_USER_PIN_TO_BE_CHANGED, "USER_PIN_TO_BE_CHANGED"},
      {CKF_SO_PIN_COUNT_LOW, "SO_PIN_COUNT_LOW"},     {CKF_SO_PIN_FINAL_TRY, "SO_PIN_FINAL_TRY"},
      {CKF_SO_PIN_LOCKED, "SO_PIN_LOCKED"},           {CKF_SO_PIN_TO_BE_CHANGED, "SO_PIN_TO_BE_CHANGED"},
  };
  std::string s;
  for (auto [bit, name] : kBits)
    if (f & bit) s += (s.empty() ? "" : "|") + std::string(name);
  return s;
}

std::string SessionState(CK_STATE st) {
  switch (st) {
    case CKS_RO_PUBLIC_SESSION: return "RO_PUBLIC";
    case CKS_RO_USER_FUNCTIONS: return "RO_USER";
    case CKS_RW_PUBLIC_SESSION: return "RW_PUBLIC";
    case CKS_RW_USER_FUNCTIONS: return "RW_USER";
    case CKS_RW_SO_FUNCTIONS: return "RW_SO";
  }
  return "state=" + std::to_string(st);
}

Template& Template::Add(CK_ATTRIBUTE_TYPE t, Bytes v) {
  storage.push_back(std::move(v));
  attrs.push_back({t, nullptr, 0});
  return *this;
}

Template& Template::Ulong(CK_ATTRIBUTE_TYPE t, CK_ULONG v) {
  Bytes b(sizeof v);
  std::copy_n(reinterpret_cast<unsigned char*>(&v), sizeof v, b.begin());
  return Add(t, std::move(b));
}

std::vector<CK_ATTRIBUTE> Template::Get() {
  for (std::size_t i = 0; i < attrs.size(); ++i) {
    attrs[i].pValue = storage[i].empty() ? nullptr : storage[i].data();
    attrs[i].ulValueLen = storage[i].size();
  }
  return attrs;
}

Context::Context(CK_FUNCTION_LIST* p11, RunConfig& config, ScenarioResult& out)
    : p11_(p11), config_(config), out_(out) {}

CK_RV Recorded::With(std::string result) const {
  out_->steps.at(index_).result = std::move(result);
  return rv_;
}

CK_RV Context::RecResult(std::string_view step, CK_RV rv, std::string result) {
  out_.steps.push_back({std::string(step), CkrName(rv), std::move(result)});
  return rv;
}

Recorded Context::Rec(std::string_view step, CK_RV rv) {
  RecResult(step, rv, {});
  return Recorded(out_, out_.steps.size() - 1, rv);
}

Recorded Context::Need(std::string_view step, CK_RV rv, CK_RV want) {
  Recorded r = Rec(step, rv);
  if (rv != want) throw Abort{std::string(step)};
  return r;
}

void Context::Note(std::string_view step, std::string result) {
  out_.steps.push_back({std::string(step), "-", std::move(result)});
}

void Context::Stop(std::string_view why) { throw Stopped{std::string(why)}; }

std::string Context::UniqueLabel(std::string_view tag) {
  static int counter = 0;
  static const std::string run_id = [] {
    const char* kDigits = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned long v = static_cast<unsigned long>(::getpid()) * 7919UL +
                      static_cast<unsigned long>(std::chrono::system_clock::now().time_since_epoch().count() / 1000);
    std::string s;
    for (int i = 0; i < 4; ++i, v /= 36) s += kDigits[v % 36];
    return s;
  }();
  std::string label = config_.label_prefix + "-" + run_id + "-" + std::string(tag) + std::to_string(++counter);
  if (label.size() > 32) label = label.substr(label.size() - 32);
  return label;
}

CK_SLOT_ID Context::SlotByLabel(const std::string& label) {
  for (int attempt = 0; attempt < 40; ++attempt) {
    CK_ULONG n = 0;
    if (p11_->C_GetSlotList(CK_TRUE, nullptr, &n) == CKR_OK) {
      std::vector<CK_SLOT_ID> slots(n + 4);
      n = slots.size();
      if (p11_->C_GetSlotList(CK_TRUE, slots.data(), &n) == CKR_OK) {
        for (CK_ULONG i = 0; i < n; ++i) {
          CK_TOKEN_INFO info{};
          if (p11_->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
          if ((info.flags & CKF_TOKEN_INITIALIZED) && Trim(info.label, sizeof info.label) == label) {
            touched_slots[slots[i]] = true;
            return slots[i];
          }
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Note("find token " + label, "absent");
  throw Abort{"find token"};
}

CK_SLOT_ID Context::MainSlot() {
  CK_SLOT_ID slot = SlotByLabel(Fixture().main_label);
  return slot;
}

CK_SLOT_ID Context::FreeSlot() {
  for (int attempt = 0; attempt < 40; ++attempt) {
    CK_ULONG n = 0;
    if (p11_->C_GetSlotList(CK_FALSE, nullptr, &n) == CKR_OK) {
      std::vector<CK_SLOT_ID> slots(n + 4);
      n = slots.size();
      if (p11_->C_GetSlotList(CK_FALSE, slots.data(), &n) == CKR_OK) {
        for (CK_ULONG i = 0; i < n; ++i) {
          CK_TOKEN_INFO info{};
          if (p11_->C_GetTokenInfo(slots[i], &info) != CKR_OK) continue;
          if (!(info.flags & CKF_TOKEN_INITIALIZED)) {
            touched_slots[slots[i]] = true;
            return slots[i];
          }
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Note("free slot", "absent");
  throw Abort{"free slot"};
}

CK_SLOT_ID Context::FreshToken(bool init_pin) {
  CK_SLOT_ID free_slot = FreeSlot();
  std::string label = UniqueLabel("t");
  unsigned char padded[32];
  std::fill(std::begin(padded), std::end(padded), ' ');
  std::copy(label.begin(), label.end(), padded);
  Need("fresh: C_InitToken",
       p11_->C_InitToken(free_slot, (unsigned char*)kSoPin.data(), kSoPin.size(), padded));
  CK_SLOT_ID slot = SlotByLabel(label);
  if (init_pin) {
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    Need("fresh: C_OpenSession", p11_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s));
    Need("fresh: C_Login SO", p11_->C_Login(s, CKU_SO, (unsigned char*)kSoPin.data(), kSoPin.size()));
    Need("fresh: C_InitPIN", p11_->C_InitPIN(s, (unsigned char*)kUserPin.data(), kUserPin.size()));
    Need("fresh: C_Logout", p11_->C_Logout(s));
    Need("fresh: C_CloseSession", p11_->C_CloseSession(s));
  }
  return slot;
}

CK_SESSION_HANDLE Context::Open(CK_SLOT_ID slot, bool rw) {
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
  Need(rw ? "C_OpenSession RW" : "C_OpenSession RO", p11_->C_OpenSession(slot, flags, nullptr, nullptr, &s));
  touched_slots[slot] = true;
  return s;
}

void Context::Login(CK_SESSION_HANDLE s, CK_USER_TYPE who, std::string_view pin) {
  Need(who == CKU_SO ? "C_Login SO" : "C_Login USER",
       p11_->C_Login(s, who, (unsigned char*)pin.data(), pin.size()));
}

CK_TOKEN_INFO Context::TokenInfo(CK_SLOT_ID slot, std::string_view step) {
  CK_TOKEN_INFO info{};
  CK_RV rv = p11_->C_GetTokenInfo(slot, &info);
  RecResult(step, rv, rv == CKR_OK ? PinFlags(info.flags) : "");
  return info;
}

bool Context::Supports(CK_SLOT_ID slot, CK_MECHANISM_TYPE m, CK_FLAGS needed) {
  CK_ULONG n = 0;
  bool ok = false;
  if (p11_->C_GetMechanismList(slot, nullptr, &n) == CKR_OK) {
    std::vector<CK_MECHANISM_TYPE> list(n);
    if (p11_->C_GetMechanismList(slot, list.data(), &n) == CKR_OK &&
        std::find(list.begin(), list.begin() + n, m) != list.begin() + n) {
      CK_MECHANISM_INFO info{};
      ok = p11_->C_GetMechanismInfo(slot, m, &info) == CKR_OK && (info.flags & needed) == needed;
    }
  }
  Note("mechanism " + MechanismName(m), ok ? "supported" : "not-supported");
  return ok;
}

std::vector<CK_OBJECT_HANDLE> Context::Find(CK_SESSION_HANDLE s, std::vector<CK_ATTRIBUTE> tmpl,
                                            std::string_view step) {
  std::vector<CK_OBJECT_HANDLE> found;
  CK_RV rv = p11_->C_FindObjectsInit(s, tmpl.empty() ? nullptr : tmpl.data(), tmpl.size());
  if (rv != CKR_OK) {
    Rec(std::string(step) + " init", rv);
    return found;
  }
  CK_OBJECT_HANDLE batch[16];
  CK_ULONG n = 0;
  while ((rv = p11_->C_FindObjects(s, batch, 16, &n)) == CKR_OK && n > 0) found.insert(found.end(), batch, batch + n);
  CK_RV fin = p11_->C_FindObjectsFinal(s);
  RecResult(step, rv != CKR_OK ? rv : fin, "count=" + std::to_string(found.size()));
  return found;
}

Bytes Context::Attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, std::string_view step,
                    bool record) {
  CK_ATTRIBUTE a{t, nullptr, 0};
  CK_RV rv = p11_->C_GetAttributeValue(s, o, &a, 1);
  Bytes value;
  if (rv == CKR_OK && a.ulValueLen != CK_UNAVAILABLE_INFORMATION) {
    value.resize(a.ulValueLen);
    a.pValue = value.data();
    rv = p11_->C_GetAttributeValue(s, o, &a, 1);
    value.resize(rv == CKR_OK ? a.ulValueLen : 0);
  }
  if (record) RecResult(step, rv, rv == CKR_OK ? "len=" + std::to_string(value.size()) : "");
  return value;
}

CK_OBJECT_HANDLE Context::Key(CK_SESSION_HANDLE s, std::string_view label, CK_OBJECT_CLASS cls) {
  Template t;
  t.Ulong(CKA_CLASS, cls).Str(CKA_LABEL, label);
  auto found = Find(s, t.Get(), "find " + std::string(label) + (cls == CKO_PRIVATE_KEY ? " private" : " public"));
  if (found.size() != 1) throw Abort{"find key"};
  return found[0];
}

FixtureState& Fixture() {
  static FixtureState state;
  return state;
}

// Used by the runner to turn a Stopped into an outcome without exposing it.
std::string RunOne(const Scenario& sc, Context& ctx) {
  try {
    sc.run(ctx);
    return "completed";
  } catch (const Abort& a) {
    return "aborted at " + a.step;
  } catch (const Stopped& s) {
    return s.why;
  }
}

}  // namespace vtoken::conformance
