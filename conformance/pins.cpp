// PIN handling: C_SetPIN, length/format policy, retry counters and their
// token flags, lockout and unblock with the SO PIN (the PUK of a real token).
#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

CK_RV Login(Context& c, CK_SESSION_HANDLE s, CK_USER_TYPE who, std::string_view pin) {
  return c.p11().C_Login(s, who, (unsigned char*)pin.data(), pin.size());
}

CK_RV SetPin(Context& c, CK_SESSION_HANDLE s, std::string_view old_pin, std::string_view new_pin) {
  return c.p11().C_SetPIN(s, (unsigned char*)old_pin.data(), old_pin.size(), (unsigned char*)new_pin.data(),
                          new_pin.size());
}

// A fresh token with the user PIN locked by three wrong tries.
CK_SLOT_ID LockedToken(Context& c, CK_SESSION_HANDLE& s) {
  CK_SLOT_ID slot = c.FreshToken();
  s = c.Open(slot, true);
  for (int i = 1; i <= 3; ++i) {
    c.Rec("C_Login(wrong) #" + std::to_string(i), Login(c, s, CKU_USER, "000000"));
    c.TokenInfo(slot, "pin flags after wrong #" + std::to_string(i));
  }
  c.Rec("C_Login(right) when locked", Login(c, s, CKU_USER, kUserPin));
  return slot;
}

void AddSetPinLength(ScenarioList& list, const char* name, std::size_t len, char fill) {
  list.push_back({std::string("pins/set-pin-length-") + name, [=](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.FreshToken(), true);
                    c.Login(s);
                    std::string pin(len, fill);
                    c.Rec("C_SetPIN(new length " + std::to_string(len) + ")", SetPin(c, s, kUserPin, pin));
                  }});
}

}  // namespace

void AddPins(ScenarioList& list) {
  list.push_back({"pins/set-pin-in-user-session", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s);
                    c.Rec("C_SetPIN", SetPin(c, s, kUserPin, "654321"));
                    c.Rec("C_Logout", c.p11().C_Logout(s));
                    c.Rec("C_Login(old PIN)", Login(c, s, CKU_USER, kUserPin));
                    c.Rec("C_Login(new PIN)", Login(c, s, CKU_USER, "654321"));
                    CK_TOKEN_INFO info = c.TokenInfo(slot, "pin flags");
                    c.Note("USER_PIN_TO_BE_CHANGED", (info.flags & CKF_USER_PIN_TO_BE_CHANGED) ? "yes" : "no");
                  }});
  list.push_back({"pins/set-pin-ro-session", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.FreshToken(), false);
                    c.Login(s);
                    c.Rec("C_SetPIN (RO session)", SetPin(c, s, kUserPin, "654321"));
                  }});
  list.push_back({"pins/set-pin-wrong-old", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s);
                    c.Rec("C_SetPIN(wrong old)", SetPin(c, s, "000000", "654321"));
                    c.TokenInfo(slot, "pin flags");
                  }});
  list.push_back({"pins/set-pin-public-session", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Rec("C_SetPIN(user PIN, not logged in)", SetPin(c, s, kUserPin, "654321"));
                    c.Rec("C_Login(new PIN)", Login(c, s, CKU_USER, "654321"));
                  }});
  list.push_back({"pins/set-so-pin", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.FreshToken(), true);
                    c.Login(s, CKU_SO, kSoPin);
                    c.Rec("C_SetPIN(SO)", SetPin(c, s, kSoPin, "87654321"));
                    c.Rec("C_Logout", c.p11().C_Logout(s));
                    c.Rec("C_Login SO(new)", Login(c, s, CKU_SO, "87654321"));
                  }});
  list.push_back({"pins/set-pin-null-new", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.FreshToken(), true);
                    c.Login(s);
                    c.Rec("C_SetPIN(new NULL, len 6)",
                          c.p11().C_SetPIN(s, (unsigned char*)kUserPin.data(), kUserPin.size(), nullptr, 6));
                  }});
  AddSetPinLength(list, "3", 3, '5');
  AddSetPinLength(list, "4", 4, '5');
  AddSetPinLength(list, "16", 16, '5');
  AddSetPinLength(list, "17", 17, '5');
  AddSetPinLength(list, "300", 300, '5');
  list.push_back({"pins/set-pin-control-character", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.FreshToken(), true);
                    c.Login(s);
                    c.Rec("C_SetPIN(\"12\\x01456\")", SetPin(c, s, kUserPin, std::string_view("12\x01" "456", 6)));
                  }});
  list.push_back({"pins/wrong-pin-counter-flags-and-lock", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    LockedToken(c, s);
                  }});
  list.push_back({"pins/success-resets-counter", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, false);
                    c.Rec("C_Login(wrong)", Login(c, s, CKU_USER, "000000"));
                    c.Rec("C_Login(wrong)", Login(c, s, CKU_USER, "000000"));
                    c.TokenInfo(slot, "pin flags after 2 wrong");
                    c.Rec("C_Login(right)", Login(c, s, CKU_USER, kUserPin));
                    c.TokenInfo(slot, "pin flags after success");
                    c.Rec("C_Logout", c.p11().C_Logout(s));
                    c.Rec("C_Login(wrong)", Login(c, s, CKU_USER, "000000"));
                    c.TokenInfo(slot, "pin flags after 1 more wrong");
                  }});
  list.push_back({"pins/locked-unblock-by-so-init-pin", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_SLOT_ID slot = LockedToken(c, s);
                    c.Rec("C_Logout (in case the locked PIN was accepted)", c.p11().C_Logout(s));
                    c.Login(s, CKU_SO, kSoPin);
                    c.Rec("C_InitPIN", c.p11().C_InitPIN(s, (unsigned char*)"246810", 6));
                    c.Rec("C_Logout", c.p11().C_Logout(s));
                    c.TokenInfo(slot, "pin flags after unblock");
                    c.Rec("C_Login(new PIN)", Login(c, s, CKU_USER, "246810"));
                  }});
  list.push_back({"pins/locked-unblock-by-set-pin-with-so-pin", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_SLOT_ID slot = LockedToken(c, s);
                    c.Rec("C_SetPIN(SO PIN, new) public session", SetPin(c, s, kSoPin, "246810"));
                    c.TokenInfo(slot, "pin flags after unblock");
                    c.Rec("C_Login(new PIN)", Login(c, s, CKU_USER, "246810"));
                  }});
  list.push_back({"pins/locked-set-pin-in-public-session", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_SLOT_ID slot = LockedToken(c, s);
                    c.Rec("C_SetPIN(user PIN, new) when locked", SetPin(c, s, kUserPin, "246810"));
                    c.TokenInfo(slot, "pin flags after");
                  }});
  list.push_back({"pins/so-pin-counter-flags", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    for (int i = 1; i <= 9; ++i) c.Rec("C_Login SO(wrong) #" + std::to_string(i), Login(c, s, CKU_SO, "00000000"));
                    c.TokenInfo(slot, "pin flags after 9 wrong SO");
                    c.Rec("C_Login SO(right)", Login(c, s, CKU_SO, kSoPin));
                    c.TokenInfo(slot, "pin flags after SO success");
                  }});
  list.push_back({"pins/so-pin-lock", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    for (int i = 1; i <= 10; ++i) c.Rec("C_Login SO(wrong) #" + std::to_string(i), Login(c, s, CKU_SO, "00000000"));
                    c.TokenInfo(slot, "pin flags after 10 wrong SO");
                    c.Rec("C_Login SO(right) when locked", Login(c, s, CKU_SO, kSoPin));
                  }});
  list.push_back({"pins/user-and-so-counters-separate", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Rec("C_Login USER(wrong)", Login(c, s, CKU_USER, "000000"));
                    c.Rec("C_Login SO(wrong)", Login(c, s, CKU_SO, "00000000"));
                    c.TokenInfo(slot, "pin flags");
                    c.Rec("C_Login SO(right)", Login(c, s, CKU_SO, kSoPin));
                    c.TokenInfo(slot, "pin flags after SO success");
                  }});
  list.push_back({"pins/login-empty-pin", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    c.Rec("C_Login(\"\")", Login(c, c.Open(slot, false), CKU_USER, ""));
                    c.TokenInfo(slot, "pin flags");
                  }});
}

}  // namespace vtoken::conformance
