// The shared token and keys most scenarios use, made once per run on the
// module's free slot; plus key generation and the scenario list.
#include <cstdio>

#include "conformance/harness.h"

namespace vtoken::conformance {

std::string MechanismName(CK_MECHANISM_TYPE m) {
  struct Entry {
    CK_MECHANISM_TYPE value;
    const char* name;
  };
  static const Entry kTable[] = {
#define VT_CKM(n) {n, #n},
#include "conformance/ckm_table.inc"
#undef VT_CKM
  };
  for (const auto& e : kTable)
    if (e.value == m) return e.name;
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKM_0x%lx", m);
  return buf;
}

CK_RV GenerateRsa(CK_FUNCTION_LIST& p11, CK_SESSION_HANDLE s, CK_ULONG bits, std::string_view label, bool token,
                  CK_OBJECT_HANDLE* pub, CK_OBJECT_HANDLE* priv) {
  CK_MECHANISM mech{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
  Template pt, kt;
  pt.Bool(CKA_TOKEN, token).Bool(CKA_VERIFY, true).Bool(CKA_ENCRYPT, true).Ulong(CKA_MODULUS_BITS, bits)
      .Add(CKA_PUBLIC_EXPONENT, {0x01, 0x00, 0x01}).Str(CKA_LABEL, label).Str(CKA_ID, label);
  kt.Bool(CKA_TOKEN, token).Bool(CKA_PRIVATE, true).Bool(CKA_SENSITIVE, true).Bool(CKA_SIGN, true)
      .Bool(CKA_DECRYPT, true).Str(CKA_LABEL, label).Str(CKA_ID, label);
  auto pa = pt.Get(), ka = kt.Get();
  return p11.C_GenerateKeyPair(s, &mech, pa.data(), pa.size(), ka.data(), ka.size(), pub, priv);
}

CK_RV GenerateEc(CK_FUNCTION_LIST& p11, CK_SESSION_HANDLE s, const Bytes& curve_oid, std::string_view label,
                 bool token, CK_OBJECT_HANDLE* pub, CK_OBJECT_HANDLE* priv) {
  CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
  Template pt, kt;
  pt.Bool(CKA_TOKEN, token).Bool(CKA_VERIFY, true).Add(CKA_EC_PARAMS, curve_oid).Str(CKA_LABEL, label)
      .Str(CKA_ID, label);
  kt.Bool(CKA_TOKEN, token).Bool(CKA_PRIVATE, true).Bool(CKA_SENSITIVE, true).Bool(CKA_SIGN, true)
      .Str(CKA_LABEL, label).Str(CKA_ID, label);
  auto pa = pt.Get(), ka = kt.Get();
  return p11.C_GenerateKeyPair(s, &mech, pa.data(), pa.size(), ka.data(), ka.size(), pub, priv);
}

void SetUpFixture(CK_FUNCTION_LIST* p11, RunConfig& config, ScenarioResult& out) {
  Context ctx(p11, config, out);
  try {
    CK_SLOT_ID free_slot = ctx.FreeSlot();
    std::string label = ctx.UniqueLabel("main");
    Fixture().main_label = label;
    unsigned char padded[32];
    std::fill(std::begin(padded), std::end(padded), ' ');
    std::copy(label.begin(), label.end(), padded);
    ctx.Need("C_InitToken", p11->C_InitToken(free_slot, (unsigned char*)kSoPin.data(), kSoPin.size(), padded));
    CK_SLOT_ID slot = ctx.MainSlot();
    CK_SESSION_HANDLE s = ctx.Open(slot, true);
    ctx.Login(s, CKU_SO, kSoPin);
    ctx.Need("C_InitPIN", p11->C_InitPIN(s, (unsigned char*)kUserPin.data(), kUserPin.size()));
    ctx.Need("C_Logout", p11->C_Logout(s));
    ctx.Login(s);
    CK_OBJECT_HANDLE pub, priv;
    ctx.Rec("generate RSA-2048", GenerateRsa(*p11, s, 2048, kRsaKey, true, &pub, &priv));
    ctx.Rec("generate P-256", GenerateEc(*p11, s, kOidP256, kEc256Key, true, &pub, &priv));
    ctx.Rec("generate P-384", GenerateEc(*p11, s, kOidP384, kEc384Key, true, &pub, &priv));
    p11->C_CloseAllSessions(slot);
    out.outcome = "completed";
  } catch (const Abort& a) {
    out.outcome = "aborted at " + a.step;
  }
}

ScenarioList AllScenarios() {
  ScenarioList list;
  AddSlotsTokens(list);
  AddSessionsLogin(list);
  AddPins(list);
  AddObjects(list);
  AddAttributes(list);
  AddFind(list);
  AddSigning(list);
  AddSigningRules(list);
  AddDigest(list);
  AddDecrypt(list);
  AddKeygen(list);
  AddBadArgs(list);
  AddGeneral(list);
  return list;
}

}  // namespace vtoken::conformance
