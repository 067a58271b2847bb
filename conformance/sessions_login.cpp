// Sessions and login states (PKCS#11 v2.40 §5.6, §5.7; the session state
// diagram of the base specification §5.5).
#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

void RecState(Context& c, CK_SESSION_HANDLE s, std::string_view step) {
  CK_SESSION_INFO info{};
  CK_RV rv = c.p11().C_GetSessionInfo(s, &info);
  c.Rec(step, rv).With(rv == CKR_OK ? SessionState(info.state) : "");
}

CK_RV LoginRv(Context& c, CK_SESSION_HANDLE s, CK_USER_TYPE who, std::string_view pin) {
  return c.p11().C_Login(s, who, (unsigned char*)pin.data(), pin.size());
}

}  // namespace

void AddSessionsLogin(ScenarioList& list) {
  list.push_back({"sessions/open-without-serial-flag", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    c.Rec("C_OpenSession(flags 0)", c.p11().C_OpenSession(c.MainSlot(), 0, nullptr, nullptr, &s));
                  }});
  list.push_back({"sessions/open-invalid-slot", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    c.Rec("C_OpenSession(0xdead0)",
                          c.p11().C_OpenSession(0xdead0, CKF_SERIAL_SESSION, nullptr, nullptr, &s));
                  }});
  list.push_back({"sessions/open-null-handle", [](Context& c) {
                    c.Rec("C_OpenSession(phSession NULL)",
                          c.p11().C_OpenSession(c.MainSlot(), CKF_SERIAL_SESSION, nullptr, nullptr, nullptr));
                  }});
  list.push_back({"sessions/open-on-uninitialized-token", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    c.Rec("C_OpenSession(free slot)",
                          c.p11().C_OpenSession(c.FreeSlot(), CKF_SERIAL_SESSION, nullptr, nullptr, &s));
                  }});
  list.push_back({"sessions/states-ro-rw-public", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    RecState(c, c.Open(slot, false), "C_GetSessionInfo RO");
                    CK_SESSION_HANDLE rw = c.Open(slot, true);
                    CK_SESSION_INFO info{};
                    c.Rec("C_GetSessionInfo RW", c.p11().C_GetSessionInfo(rw, &info)).With(SessionState(info.state));
                    c.Note("flags", std::string((info.flags & CKF_SERIAL_SESSION) ? "SERIAL" : "") +
                                        ((info.flags & CKF_RW_SESSION) ? "|RW" : ""));
                  }});
  list.push_back({"login/user-login-changes-all-sessions", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE ro = c.Open(slot, false), rw = c.Open(slot, true);
                    c.Login(ro);
                    RecState(c, ro, "state RO");
                    RecState(c, rw, "state RW");
                    CK_SESSION_HANDLE late = c.Open(slot, false);
                    RecState(c, late, "state of a session opened after login");
                  }});
  list.push_back({"login/wrong-pin", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken();
                    CK_SESSION_HANDLE s = c.Open(slot, false);
                    c.Rec("C_Login(wrong)", LoginRv(c, s, CKU_USER, "000000"));
                    RecState(c, s, "state");
                    c.Rec("C_Login(right)", LoginRv(c, s, CKU_USER, kUserPin));
                    c.TokenInfo(slot, "pin flags after success");
                  }});
  list.push_back({"login/already-logged-in", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Login(s);
                    c.Rec("C_Login USER again", LoginRv(c, s, CKU_USER, kUserPin));
                    c.Rec("C_Login USER again, wrong PIN", LoginRv(c, s, CKU_USER, "000000"));
                  }});
  list.push_back({"login/so-while-user-logged-in", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    c.Rec("C_Login SO", LoginRv(c, s, CKU_SO, kSoPin));
                  }});
  list.push_back({"login/user-while-so-logged-in", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s, CKU_SO, kSoPin);
                    RecState(c, s, "state");
                    c.Rec("C_Login USER", LoginRv(c, s, CKU_USER, kUserPin));
                  }});
  list.push_back({"login/so-with-ro-session-open", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    c.Open(slot, false);
                    CK_SESSION_HANDLE rw = c.Open(slot, true);
                    c.Rec("C_Login SO", LoginRv(c, rw, CKU_SO, kSoPin));
                  }});
  list.push_back({"login/so-in-ro-session", [](Context& c) {
                    CK_SESSION_HANDLE ro = c.Open(c.MainSlot(), false);
                    c.Rec("C_Login SO (RO session)", LoginRv(c, ro, CKU_SO, kSoPin));
                  }});
  list.push_back({"login/ro-session-while-so", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE rw = c.Open(slot, true);
                    c.Login(rw, CKU_SO, kSoPin);
                    CK_SESSION_HANDLE ro;
                    c.Rec("C_OpenSession RO", c.p11().C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &ro));
                    CK_SESSION_HANDLE rw2;
                    c.Rec("C_OpenSession RW",
                          c.p11().C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &rw2));
                    RecState(c, rw2, "state of new RW");
                  }});
  list.push_back({"login/logout-not-logged-in", [](Context& c) {
                    c.Rec("C_Logout", c.p11().C_Logout(c.Open(c.MainSlot(), false)));
                  }});
  list.push_back({"login/logout-then-state", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE a = c.Open(slot, false), b = c.Open(slot, true);
                    c.Login(a);
                    c.Rec("C_Logout (other session)", c.p11().C_Logout(b));
                    RecState(c, a, "state A");
                    RecState(c, b, "state B");
                    c.Rec("C_Logout again", c.p11().C_Logout(a));
                  }});
  list.push_back({"login/close-last-session-logs-out", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE s = c.Open(slot, false);
                    c.Login(s);
                    c.Rec("C_CloseSession", c.p11().C_CloseSession(s));
                    RecState(c, c.Open(slot, false), "state of a new session");
                  }});
  list.push_back({"login/close-one-of-two-keeps-login", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE a = c.Open(slot, false), b = c.Open(slot, false);
                    c.Login(a);
                    c.Rec("C_CloseSession A", c.p11().C_CloseSession(a));
                    RecState(c, b, "state B");
                  }});
  list.push_back({"login/close-all-sessions-logs-out", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE a = c.Open(slot, false);
                    c.Login(a);
                    c.Rec("C_CloseAllSessions", c.p11().C_CloseAllSessions(slot));
                    RecState(c, a, "state of closed session");
                    RecState(c, c.Open(slot, false), "state of a new session");
                  }});
  list.push_back({"login/invalid-user-type", [](Context& c) {
                    c.Rec("C_Login(type 7)", LoginRv(c, c.Open(c.MainSlot(), false), 7, kUserPin));
                  }});
  list.push_back({"login/null-pin-with-length", [](Context& c) {
                    c.Rec("C_Login(pin NULL, len 6)",
                          c.p11().C_Login(c.Open(c.MainSlot(), false), CKU_USER, nullptr, 6));
                  }});
  list.push_back({"login/user-pin-not-initialized", [](Context& c) {
                    CK_SLOT_ID slot = c.FreshToken(false);
                    c.Rec("C_Login USER", LoginRv(c, c.Open(slot, false), CKU_USER, kUserPin));
                  }});
  list.push_back({"login/context-specific-without-operation", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Login(s);
                    c.Rec("C_Login CONTEXT_SPECIFIC", LoginRv(c, s, CKU_CONTEXT_SPECIFIC, kUserPin));
                  }});
  list.push_back({"sessions/close-invalid-handle", [](Context& c) {
                    c.Rec("C_CloseSession(0xdead0)", c.p11().C_CloseSession(0xdead0));
                  }});
  list.push_back({"sessions/closed-handle-is-invalid", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Rec("C_CloseSession", c.p11().C_CloseSession(s));
                    RecState(c, s, "C_GetSessionInfo closed");
                    c.Rec("C_CloseSession again", c.p11().C_CloseSession(s));
                  }});
  list.push_back({"sessions/close-all-invalid-slot", [](Context& c) {
                    c.Rec("C_CloseAllSessions(0xdead0)", c.p11().C_CloseAllSessions(0xdead0));
                  }});
  list.push_back({"sessions/session-info-null", [](Context& c) {
                    c.Rec("C_GetSessionInfo(NULL)", c.p11().C_GetSessionInfo(c.Open(c.MainSlot(), false), nullptr));
                  }});
  list.push_back({"sessions/token-session-counts", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    c.Open(slot, false);
                    c.Open(slot, true);
                    CK_TOKEN_INFO info{};
                    c.Rec("C_GetTokenInfo", c.p11().C_GetTokenInfo(slot, &info));
                    auto count = [](CK_ULONG v) {
                      return v == CK_UNAVAILABLE_INFORMATION ? std::string("unavailable") : std::to_string(v);
                    };
                    c.Note("session counts (all, rw)", count(info.ulSessionCount) + "," + count(info.ulRwSessionCount));
                  }});
}

}  // namespace vtoken::conformance
