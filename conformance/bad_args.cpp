// Bad arguments: every session-taking function with a handle that was never
// issued, and one that was closed; random numbers; NULL pointers not covered
// by the other chapters.
#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

using SessionCall = std::function<CK_RV(CK_FUNCTION_LIST&, CK_SESSION_HANDLE)>;

const std::pair<const char*, SessionCall> kSessionCalls[] = {
    {"C_GetSessionInfo", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_SESSION_INFO i; return f.C_GetSessionInfo(s, &i); }},
    {"C_Login", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_Login(s, CKU_USER, (unsigned char*)kUserPin.data(), kUserPin.size()); }},
    {"C_Logout", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_Logout(s); }},
    {"C_CloseSession", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_CloseSession(s); }},
    {"C_SetPIN", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_SetPIN(s, (unsigned char*)"123456", 6, (unsigned char*)"654321", 6); }},
    {"C_InitPIN", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_InitPIN(s, (unsigned char*)"123456", 6); }},
    {"C_FindObjectsInit", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_FindObjectsInit(s, nullptr, 0); }},
    {"C_FindObjects", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_OBJECT_HANDLE h; CK_ULONG n; return f.C_FindObjects(s, &h, 1, &n); }},
    {"C_FindObjectsFinal", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_FindObjectsFinal(s); }},
    {"C_CreateObject", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) {
       CK_OBJECT_CLASS cls = CKO_DATA;
       CK_ATTRIBUTE a{CKA_CLASS, &cls, sizeof cls};
       CK_OBJECT_HANDLE h;
       return f.C_CreateObject(s, &a, 1, &h);
     }},
    {"C_DestroyObject", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { return f.C_DestroyObject(s, 1); }},
    {"C_GetAttributeValue", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_ATTRIBUTE a{CKA_LABEL, nullptr, 0}; return f.C_GetAttributeValue(s, 1, &a, 1); }},
    {"C_SignInit", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_MECHANISM m{CKM_ECDSA, nullptr, 0}; return f.C_SignInit(s, &m, 1); }},
    {"C_Sign", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_BYTE d[32] = {}, sig[64]; CK_ULONG n = 64; return f.C_Sign(s, d, 32, sig, &n); }},
    {"C_VerifyInit", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_MECHANISM m{CKM_ECDSA, nullptr, 0}; return f.C_VerifyInit(s, &m, 1); }},
    {"C_DigestInit", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_MECHANISM m{CKM_SHA256, nullptr, 0}; return f.C_DigestInit(s, &m); }},
    {"C_Digest", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_BYTE d[4] = {}, o[32]; CK_ULONG n = 32; return f.C_Digest(s, d, 4, o, &n); }},
    {"C_DecryptInit", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_MECHANISM m{CKM_RSA_PKCS, nullptr, 0}; return f.C_DecryptInit(s, &m, 1); }},
    {"C_GenerateKeyPair", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) {
       CK_MECHANISM m{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
       CK_ATTRIBUTE a{CKA_EC_PARAMS, (void*)kOidP256.data(), kOidP256.size()};
       CK_OBJECT_HANDLE p, k;
       return f.C_GenerateKeyPair(s, &m, &a, 1, nullptr, 0, &p, &k);
     }},
    {"C_GenerateRandom", [](CK_FUNCTION_LIST& f, CK_SESSION_HANDLE s) { CK_BYTE b[8]; return f.C_GenerateRandom(s, b, 8); }},
};

}  // namespace

void AddBadArgs(ScenarioList& list) {
  for (const auto& [name, call] : kSessionCalls) {
    list.push_back({std::string("bad-args/invalid-session-") + name, [call](Context& c) {
                      c.MainSlot();  // keeps the module busy with a real slot first
                      c.Rec("call with session 0xdead0", call(c.p11(), 0xdead0));
                    }});
  }
  for (const char* name : {"C_GetSessionInfo", "C_Login", "C_FindObjectsInit", "C_SignInit", "C_GenerateRandom"}) {
    SessionCall call;
    for (const auto& [n, f] : kSessionCalls)
      if (std::string_view(n) == name) call = f;
    list.push_back({std::string("bad-args/closed-session-") + name, [call](Context& c) {
                      CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                      c.Rec("C_CloseSession", c.p11().C_CloseSession(s));
                      c.Rec("call with the closed session", call(c.p11(), s));
                    }});
  }
  list.push_back({"bad-args/generate-random", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    Bytes a(32), b(32);
                    c.Rec("C_GenerateRandom(32)", c.p11().C_GenerateRandom(s, a.data(), a.size()));
                    c.Rec("C_GenerateRandom(32)", c.p11().C_GenerateRandom(s, b.data(), b.size()));
                    c.Note("two results differ", a != b ? "yes" : "no");
                  }});
  list.push_back({"bad-args/generate-random-zero", [](Context& c) {
                    CK_BYTE b = 0;
                    c.Rec("C_GenerateRandom(0)", c.p11().C_GenerateRandom(c.Open(c.MainSlot(), false), &b, 0));
                  }});
  list.push_back({"bad-args/generate-random-null", [](Context& c) {
                    c.Rec("C_GenerateRandom(NULL, 16)", c.p11().C_GenerateRandom(c.Open(c.MainSlot(), false), nullptr, 16));
                  }});
  list.push_back({"bad-args/get-info-null", [](Context& c) { c.Rec("C_GetInfo(NULL)", c.p11().C_GetInfo(nullptr)); }});
  list.push_back({"bad-args/get-info", [](Context& c) {
                    CK_INFO info{};
                    c.Rec("C_GetInfo", c.p11().C_GetInfo(&info));
                    c.Note("cryptoki version", std::to_string(info.cryptokiVersion.major) + ".x");
                    c.Note("flags", std::to_string(info.flags));
                  }});
  list.push_back({"bad-args/get-function-list-null", [](Context& c) {
                    c.Rec("C_GetFunctionList(NULL)", c.p11().C_GetFunctionList(nullptr));
                  }});
  list.push_back({"bad-args/mechanism-info-null", [](Context& c) {
                    c.Rec("C_GetMechanismInfo(NULL)", c.p11().C_GetMechanismInfo(c.MainSlot(), CKM_ECDSA, nullptr));
                  }});
  list.push_back({"bad-args/mechanism-list-null-count", [](Context& c) {
                    c.Rec("C_GetMechanismList(count NULL)", c.p11().C_GetMechanismList(c.MainSlot(), nullptr, nullptr));
                  }});
  list.push_back({"bad-args/sign-init-invalid-object-after-destroy", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    CK_OBJECT_HANDLE pub, priv;
                    c.Need("C_GenerateKeyPair", GenerateEc(c.p11(), s, kOidP256, c.UniqueLabel("ec"), false, &pub, &priv));
                    c.Rec("C_DestroyObject", c.p11().C_DestroyObject(s, priv));
                    CK_MECHANISM m{CKM_ECDSA, nullptr, 0};
                    c.Rec("C_SignInit(destroyed key)", c.p11().C_SignInit(s, &m, priv));
                  }});
}

}  // namespace vtoken::conformance
