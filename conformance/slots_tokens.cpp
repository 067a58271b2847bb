// Slots, tokens, mechanisms lists, token initialization (PKCS#11 v2.40 §5.5).
#include <set>

#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

std::string Padded32(const std::string& s) { return s + std::string(32 - std::min<std::size_t>(s.size(), 32), ' '); }

bool BlankPadded(const unsigned char* p, std::size_t n) {
  std::size_t i = n;
  while (i > 0 && p[i - 1] == ' ') --i;
  for (std::size_t j = 0; j < i; ++j)
    if (p[j] == 0) return false;
  return true;
}

void AddMechanismInfo(ScenarioList& list, const char* name, CK_MECHANISM_TYPE m, CK_FLAGS flags, CK_ULONG min_bits,
                      CK_ULONG max_bits) {
  list.push_back({std::string("slots/mechanism-info-") + name, [=](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    if (!c.Supports(slot, m, flags)) c.Stop("mechanism not supported by this module");
                    CK_MECHANISM_INFO info{};
                    CK_RV rv = c.Rec("C_GetMechanismInfo", c.p11().C_GetMechanismInfo(slot, m, &info));
                    if (rv != CKR_OK) return;
                    c.Note("key sizes cover the range", (max_bits == 0 || (info.ulMinKeySize <= min_bits &&
                                                                            info.ulMaxKeySize >= max_bits))
                                                            ? "yes"
                                                            : "no");
                    c.Note("flags", (info.flags & flags) == flags ? "expected bits set" : "missing bits");
                  }});
}

}  // namespace

void AddSlotsTokens(ScenarioList& list) {
  list.push_back({"slots/slot-list-length-query", [](Context& c) {
                    CK_ULONG n = 0;
                    c.Rec("C_GetSlotList(NULL)", c.p11().C_GetSlotList(CK_FALSE, nullptr, &n));
                    c.Note("count >= 2 (main token + free slot)", n >= 2 ? "yes" : "no");
                  }});
  list.push_back({"slots/slot-list-buffer-too-small", [](Context& c) {
                    CK_ULONG n = 0;
                    c.Need("C_GetSlotList(NULL)", c.p11().C_GetSlotList(CK_FALSE, nullptr, &n));
                    CK_ULONG want = n;
                    std::vector<CK_SLOT_ID> slots(n);
                    n = 1;
                    c.Rec("C_GetSlotList(1 entry)", c.p11().C_GetSlotList(CK_FALSE, slots.data(), &n));
                    c.Note("needed count returned", n == want ? "yes" : "no");
                    n = want;
                    c.Rec("C_GetSlotList(enough)", c.p11().C_GetSlotList(CK_FALSE, slots.data(), &n));
                  }});
  list.push_back({"slots/slot-list-null-count", [](Context& c) {
                    c.Rec("C_GetSlotList(count NULL)", c.p11().C_GetSlotList(CK_FALSE, nullptr, nullptr));
                  }});
  list.push_back({"slots/slot-info-main", [](Context& c) {
                    CK_SLOT_INFO info{};
                    c.Rec("C_GetSlotInfo", c.p11().C_GetSlotInfo(c.MainSlot(), &info));
                    c.Note("TOKEN_PRESENT", (info.flags & CKF_TOKEN_PRESENT) ? "yes" : "no");
                    c.Note("description blank padded",
                           BlankPadded(info.slotDescription, sizeof info.slotDescription) ? "yes" : "no");
                  }});
  list.push_back({"slots/slot-info-invalid-slot", [](Context& c) {
                    CK_SLOT_INFO info{};
                    c.Rec("C_GetSlotInfo(0xdead0)", c.p11().C_GetSlotInfo(0xdead0, &info));
                  }});
  list.push_back({"slots/slot-info-null", [](Context& c) {
                    c.Rec("C_GetSlotInfo(NULL)", c.p11().C_GetSlotInfo(c.MainSlot(), nullptr));
                  }});
  list.push_back({"slots/token-info-main", [](Context& c) {
                    CK_TOKEN_INFO info{};
                    c.Rec("C_GetTokenInfo", c.p11().C_GetTokenInfo(c.MainSlot(), &info));
                    c.Note("flags", TokenFlags(info.flags & ~CKF_USER_PIN_TO_BE_CHANGED));
                    c.Note("strings blank padded",
                           BlankPadded(info.label, 32) && BlankPadded(info.manufacturerID, 32) &&
                                   BlankPadded(info.model, 16) && BlankPadded(info.serialNumber, 16)
                               ? "yes"
                               : "no");
                    c.Note("label", std::string(reinterpret_cast<char*>(info.label), 32) ==
                                            Padded32(Fixture().main_label)
                                        ? "as given"
                                        : "different");
                  }});
  list.push_back({"slots/token-info-free-slot", [](Context& c) {
                    CK_TOKEN_INFO info{};
                    c.Rec("C_GetTokenInfo", c.p11().C_GetTokenInfo(c.FreeSlot(), &info));
                    c.Note("TOKEN_INITIALIZED", (info.flags & CKF_TOKEN_INITIALIZED) ? "yes" : "no");
                    c.Note("USER_PIN_INITIALIZED", (info.flags & CKF_USER_PIN_INITIALIZED) ? "yes" : "no");
                  }});
  list.push_back({"slots/token-info-invalid-slot", [](Context& c) {
                    CK_TOKEN_INFO info{};
                    c.Rec("C_GetTokenInfo(0xdead0)", c.p11().C_GetTokenInfo(0xdead0, &info));
                  }});
  list.push_back({"slots/token-info-null", [](Context& c) {
                    c.Rec("C_GetTokenInfo(NULL)", c.p11().C_GetTokenInfo(c.MainSlot(), nullptr));
                  }});
  list.push_back({"slots/serial-numbers-unique", [](Context& c) {
                    CK_SLOT_ID a = c.MainSlot(), b = c.FreshToken(false);
                    CK_TOKEN_INFO ia{}, ib{};
                    c.Rec("C_GetTokenInfo main", c.p11().C_GetTokenInfo(a, &ia));
                    c.Rec("C_GetTokenInfo fresh", c.p11().C_GetTokenInfo(b, &ib));
                    c.Note("serials differ",
                           std::string((char*)ia.serialNumber, 16) != std::string((char*)ib.serialNumber, 16)
                               ? "yes"
                               : "no");
                  }});
  list.push_back({"slots/mechanism-list", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_ULONG n = 0;
                    c.Need("C_GetMechanismList(NULL)", c.p11().C_GetMechanismList(slot, nullptr, &n));
                    std::vector<CK_MECHANISM_TYPE> m(n);
                    CK_ULONG small = 1;
                    c.Rec("C_GetMechanismList(1 entry)", c.p11().C_GetMechanismList(slot, m.data(), &small));
                    c.Note("needed count returned", small == n ? "yes" : "no");
                    c.Rec("C_GetMechanismList", c.p11().C_GetMechanismList(slot, m.data(), &n));
                    std::set<CK_MECHANISM_TYPE> have(m.begin(), m.end());
                    std::string core;
                    for (CK_MECHANISM_TYPE want : {CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS,
                                                   CKM_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP, CKM_EC_KEY_PAIR_GEN,
                                                   CKM_ECDSA, CKM_SHA256})
                      if (!have.count(want)) core += MechanismName(want) + " ";
                    c.Note("core mechanisms missing", core.empty() ? "none" : core);
                  }});
  list.push_back({"slots/mechanism-list-invalid-slot", [](Context& c) {
                    CK_ULONG n = 0;
                    c.Rec("C_GetMechanismList(0xdead0)", c.p11().C_GetMechanismList(0xdead0, nullptr, &n));
                  }});
  list.push_back({"slots/mechanism-info-unknown", [](Context& c) {
                    CK_MECHANISM_INFO info{};
                    c.Rec("C_GetMechanismInfo(0x7fff0000)", c.p11().C_GetMechanismInfo(c.MainSlot(), 0x7fff0000, &info));
                  }});
  AddMechanismInfo(list, "rsa-keygen", CKM_RSA_PKCS_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, 2048, 4096);
  AddMechanismInfo(list, "rsa-pkcs", CKM_RSA_PKCS, CKF_SIGN | CKF_VERIFY, 2048, 4096);
  AddMechanismInfo(list, "sha256-rsa-pkcs", CKM_SHA256_RSA_PKCS, CKF_SIGN | CKF_VERIFY, 2048, 4096);
  AddMechanismInfo(list, "rsa-pss", CKM_RSA_PKCS_PSS, CKF_SIGN | CKF_VERIFY, 2048, 4096);
  AddMechanismInfo(list, "rsa-oaep", CKM_RSA_PKCS_OAEP, CKF_DECRYPT, 2048, 4096);
  AddMechanismInfo(list, "ec-keygen", CKM_EC_KEY_PAIR_GEN, CKF_GENERATE_KEY_PAIR, 256, 384);
  AddMechanismInfo(list, "ecdsa", CKM_ECDSA, CKF_SIGN | CKF_VERIFY, 256, 384);
  AddMechanismInfo(list, "sha256", CKM_SHA256, CKF_DIGEST, 0, 0);

  list.push_back({"tokens/init-token-and-pin", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken(true);
                    CK_TOKEN_INFO info{};
                    c.Rec("C_GetTokenInfo", c.p11().C_GetTokenInfo(slot, &info));
                    c.Note("flags", TokenFlags(info.flags & ~(CKF_USER_PIN_TO_BE_CHANGED | CKF_SO_PIN_TO_BE_CHANGED)));
                    CK_SESSION_HANDLE s = c.Open(slot, false);
                    c.Login(s);
                  }});
  list.push_back({"tokens/init-token-without-pin-login", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken(false);
                    CK_TOKEN_INFO info{};
                    c.Rec("C_GetTokenInfo", c.p11().C_GetTokenInfo(slot, &info));
                    c.Note("USER_PIN_INITIALIZED", (info.flags & CKF_USER_PIN_INITIALIZED) ? "yes" : "no");
                    CK_SESSION_HANDLE s = c.Open(slot, false);
                    c.Rec("C_Login USER", c.p11().C_Login(s, CKU_USER, (unsigned char*)kUserPin.data(), kUserPin.size()));
                  }});
  list.push_back({"tokens/init-token-null-pin", [](Context& c) {
                    CK_SLOT_ID slot = c.FreeSlot();
                    unsigned char label[32];
                    std::fill(std::begin(label), std::end(label), ' ');
                    c.Rec("C_InitToken(pin NULL, len 8)", c.p11().C_InitToken(slot, nullptr, 8, label));
                  }});
  list.push_back({"tokens/init-token-null-label", [](Context& c) {
                    CK_SLOT_ID slot = c.FreeSlot();
                    c.Rec("C_InitToken(label NULL)",
                          c.p11().C_InitToken(slot, (unsigned char*)kSoPin.data(), kSoPin.size(), nullptr));
                  }});
  list.push_back({"tokens/init-token-invalid-slot", [](Context& c) {
                    unsigned char label[32];
                    std::fill(std::begin(label), std::end(label), ' ');
                    c.Rec("C_InitToken(0xdead0)",
                          c.p11().C_InitToken(0xdead0, (unsigned char*)kSoPin.data(), kSoPin.size(), label));
                  }});
  list.push_back({"tokens/reinit-with-session-open", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken(true);
                    c.Open(slot, false);
                    unsigned char label[32];
                    std::fill(std::begin(label), std::end(label), ' ');
                    c.Rec("C_InitToken(session open)",
                          c.p11().C_InitToken(slot, (unsigned char*)kSoPin.data(), kSoPin.size(), label));
                  }});
  list.push_back({"tokens/reinit-wrong-so-pin", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken(true);
                    std::string label = Padded32(c.UniqueLabel("re"));
                    c.Rec("C_InitToken(wrong SO PIN)",
                          c.p11().C_InitToken(slot, (unsigned char*)"87654321", 8, (unsigned char*)label.data()));
                    c.TokenInfo(slot, "C_GetTokenInfo pin flags");
                  }});
  list.push_back({"tokens/init-pin-needs-so", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken(false);
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Rec("C_InitPIN(public session)",
                          c.p11().C_InitPIN(s, (unsigned char*)kUserPin.data(), kUserPin.size()));
                  }});
  list.push_back({"tokens/init-pin-length-range", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken(false);
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s, CKU_SO, kSoPin);
                    c.Rec("C_InitPIN(3 chars)", c.p11().C_InitPIN(s, (unsigned char*)"123", 3));
                    std::string long_pin(300, '7');
                    c.Rec("C_InitPIN(300 chars)", c.p11().C_InitPIN(s, (unsigned char*)long_pin.data(), 300));
                    c.Rec("C_InitPIN(6 chars)", c.p11().C_InitPIN(s, (unsigned char*)kUserPin.data(), kUserPin.size()));
                  }});
  list.push_back({"tokens/wait-for-slot-event-dont-block", [](Context& c) {
                    // Earlier scenarios created tokens: drain what is pending (not compared), then nothing is.
                    CK_SLOT_ID slot = 0;
                    CK_RV rv = CKR_OK;
                    for (int i = 0; i < 1000 && rv == CKR_OK; ++i) rv = c.p11().C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr);
                    c.Rec("C_WaitForSlotEvent(DONT_BLOCK) once drained", c.p11().C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr));
                  }});
}

}  // namespace vtoken::conformance
