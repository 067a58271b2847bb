// The differential runner's core: a scenario is a name plus a short function
// that drives a PKCS#11 module through its function list and records, for
// every step, the CK_RV and a normalized result ("valid", "len=256",
// "count=1"...) — values that mean the same on any module, so two runs can be
// compared step by step. Handles, slot IDs and random bytes never appear in a
// result.
#pragma once

#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vtoken::conformance {

inline constexpr std::string_view kSoPin = "12345678";
inline constexpr std::string_view kUserPin = "123456";

struct Step {
  std::string name;
  std::string rv;      // CKR_* name, or "-" for a purely computed result
  std::string result;  // normalized result, may be empty
};

struct ScenarioResult {
  std::string name;
  std::string outcome;  // "completed" or "aborted at <step>"
  std::vector<Step> steps;
};

class Context;

// What Context::Rec returns: the CK_RV, and With() to attach the normalized
// result. `c.Rec(step, call(&len)).With(Text(len))` evaluates the call before
// the result (C++17 sequences a member call's object before its arguments);
// a plain third argument would not be.
class Recorded {
 public:
  Recorded(ScenarioResult& out, std::size_t index, CK_RV rv) : out_(&out), index_(index), rv_(rv) {}
  operator CK_RV() const { return rv_; }
  CK_RV With(std::string result) const;

 private:
  ScenarioResult* out_;
  std::size_t index_;
  CK_RV rv_;
};

struct Scenario {
  std::string name;  // "<chapter>/<what>", unique
  std::function<void(Context&)> run;
};

// Thrown by Context::Need to end a scenario whose next steps depend on a step
// that did not give the expected CK_RV.
struct Abort {
  std::string step;
};

std::string CkrName(CK_RV rv);
std::string MechanismName(CK_MECHANISM_TYPE m);
using Bytes = std::vector<unsigned char>;
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Normalized token/slot/session flags: names of the set bits that matter.
std::string TokenFlags(CK_FLAGS f);
std::string PinFlags(CK_FLAGS f);  // only the PIN counter/lock bits
std::string SessionState(CK_STATE s);

// Set up once per run: the module, the label prefix, the shared token.
struct RunConfig {
  std::string label_prefix = "conf";
};

class Context {
 public:
  Context(CK_FUNCTION_LIST* p11, RunConfig& config, ScenarioResult& out);

  CK_FUNCTION_LIST& p11() { return *p11_; }

  // Records a step; returns rv so a call can be written inline.
  Recorded Rec(std::string_view step, CK_RV rv);
  // Records a step and aborts the scenario unless rv == want.
  Recorded Need(std::string_view step, CK_RV rv, CK_RV want = CKR_OK);
  // A step whose result was computed before this call.
  CK_RV RecResult(std::string_view step, CK_RV rv, std::string result);
  // A computed result with no CK_RV of its own.
  void Note(std::string_view step, std::string result);

  // --- Helpers that record their own steps ---------------------------------
  // The shared, initialized token (user PIN set) made at start of the run.
  CK_SLOT_ID MainSlot();
  // Creates a new token with a unique label on the module's free
  // (uninitialized) slot; with init_pin, also sets the user PIN through SO.
  CK_SLOT_ID FreshToken(bool init_pin = true);
  // Any slot with no token initialized on it.
  CK_SLOT_ID FreeSlot();
  CK_SESSION_HANDLE Open(CK_SLOT_ID slot, bool rw);
  void Login(CK_SESSION_HANDLE s, CK_USER_TYPE who = CKU_USER, std::string_view pin = kUserPin);
  CK_SLOT_ID SlotByLabel(const std::string& label);
  CK_TOKEN_INFO TokenInfo(CK_SLOT_ID slot, std::string_view step);
  // True if slot offers mechanism m with all of the CKF_* bits in needed;
  // records "mechanism <name>" as "supported" or "not-supported".
  bool Supports(CK_SLOT_ID slot, CK_MECHANISM_TYPE m, CK_FLAGS needed);
  // Ends the scenario with an outcome of its own (mechanism not supported).
  [[noreturn]] void Stop(std::string_view why);

  // Objects.
  std::vector<CK_OBJECT_HANDLE> Find(CK_SESSION_HANDLE s, std::vector<CK_ATTRIBUTE> tmpl,
                                     std::string_view step);
  // Reads one attribute (two calls: length, value); records the rv.
  Bytes Attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE t, std::string_view step,
             bool record = true);
  // Finds a fixture key by label and class; aborts if absent.
  CK_OBJECT_HANDLE Key(CK_SESSION_HANDLE s, std::string_view label, CK_OBJECT_CLASS cls);

  std::string UniqueLabel(std::string_view tag);
  RunConfig& config() { return config_; }
  std::map<CK_SLOT_ID, bool> touched_slots;  // closed after the scenario

 private:
  CK_FUNCTION_LIST* p11_;
  RunConfig& config_;
  ScenarioResult& out_;
};

// Fixture keys on the main token, generated once before the scenarios.
inline constexpr std::string_view kRsaKey = "conf-rsa2048";
inline constexpr std::string_view kEc256Key = "conf-p256";
inline constexpr std::string_view kEc384Key = "conf-p384";

struct FixtureState {
  std::string main_label;
  std::vector<Step> setup_steps;  // recorded as scenario "fixture/setup"
};
FixtureState& Fixture();

// Template helpers: attributes pointing into storage that the caller keeps.
struct Template {
  std::vector<CK_ATTRIBUTE> attrs;
  std::vector<std::vector<unsigned char>> storage;
  Template& Add(CK_ATTRIBUTE_TYPE t, Bytes v);
  Template& Bool(CK_ATTRIBUTE_TYPE t, bool v) { return Add(t, Bytes{static_cast<unsigned char>(v)}); }
  Template& Ulong(CK_ATTRIBUTE_TYPE t, CK_ULONG v);
  Template& Str(CK_ATTRIBUTE_TYPE t, std::string_view v) { return Add(t, ToBytes(v)); }
  std::vector<CK_ATTRIBUTE> Get();  // pointers refreshed
};

// Key pair generation used by fixtures and keygen scenarios.
CK_RV GenerateRsa(CK_FUNCTION_LIST& p11, CK_SESSION_HANDLE s, CK_ULONG bits, std::string_view label,
                  bool token, CK_OBJECT_HANDLE* pub, CK_OBJECT_HANDLE* priv);
CK_RV GenerateEc(CK_FUNCTION_LIST& p11, CK_SESSION_HANDLE s, const Bytes& curve_oid, std::string_view label,
                 bool token, CK_OBJECT_HANDLE* pub, CK_OBJECT_HANDLE* priv);
extern const Bytes kOidP256;
extern const Bytes kOidP384;

// Chapters register their scenarios here.
using ScenarioList = std::vector<Scenario>;
void AddSlotsTokens(ScenarioList& list);
void AddSessionsLogin(ScenarioList& list);
void AddPins(ScenarioList& list);
void AddObjects(ScenarioList& list);
void AddAttributes(ScenarioList& list);
void AddFind(ScenarioList& list);
void AddSigning(ScenarioList& list);
void AddSigningRules(ScenarioList& list);
void AddDigest(ScenarioList& list);
void AddDecrypt(ScenarioList& list);
void AddKeygen(ScenarioList& list);
void AddBadArgs(ScenarioList& list);
void AddGeneral(ScenarioList& list);  // C_Initialize/C_Finalize: run last
ScenarioList AllScenarios();
// Runs one scenario; returns its outcome ("completed", "aborted at X", ...).
std::string RunOne(const Scenario& sc, Context& ctx);

// Creates the main token and fixture keys; returns false if the module cannot
// even do that (the run still records it).
void SetUpFixture(CK_FUNCTION_LIST* p11, RunConfig& config, ScenarioResult& out);

}  // namespace vtoken::conformance
