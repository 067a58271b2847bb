// C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal rules (PKCS#11 v2.40 §5.7).
#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

// Creates n session data objects sharing one label; returns the label.
std::string MakeData(Context& c, CK_SESSION_HANDLE s, int n) {
  std::string label = c.UniqueLabel("f");
  for (int i = 0; i < n; ++i) {
    Template t;
    t.Ulong(CKA_CLASS, CKO_DATA).Bool(CKA_TOKEN, false).Bool(CKA_PRIVATE, false).Str(CKA_LABEL, label).Str(CKA_VALUE, std::to_string(i));
    auto a = t.Get();
    CK_OBJECT_HANDLE h;
    c.Need("C_CreateObject #" + std::to_string(i + 1), c.p11().C_CreateObject(s, a.data(), a.size(), &h));
  }
  return label;
}

}  // namespace

void AddFind(ScenarioList& list) {
  list.push_back({"find/objects-without-init", [](Context& c) {
                    CK_OBJECT_HANDLE h[4];
                    CK_ULONG n = 0;
                    c.Rec("C_FindObjects", c.p11().C_FindObjects(c.Open(c.MainSlot(), false), h, 4, &n));
                  }});
  list.push_back({"find/final-without-init", [](Context& c) {
                    c.Rec("C_FindObjectsFinal", c.p11().C_FindObjectsFinal(c.Open(c.MainSlot(), false)));
                  }});
  list.push_back({"find/init-twice", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Rec("C_FindObjectsInit", c.p11().C_FindObjectsInit(s, nullptr, 0));
                    c.Rec("C_FindObjectsInit again", c.p11().C_FindObjectsInit(s, nullptr, 0));
                    c.Rec("C_FindObjectsFinal", c.p11().C_FindObjectsFinal(s));
                    c.Rec("C_FindObjectsFinal again", c.p11().C_FindObjectsFinal(s));
                  }});
  list.push_back({"find/one-at-a-time", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    std::string label = MakeData(c, s, 3);
                    Template t;
                    t.Str(CKA_LABEL, label);
                    auto a = t.Get();
                    c.Rec("C_FindObjectsInit", c.p11().C_FindObjectsInit(s, a.data(), a.size()));
                    for (int i = 1; i <= 4; ++i) {
                      CK_OBJECT_HANDLE h;
                      CK_ULONG n = 99;
                      c.Rec("C_FindObjects(max 1) #" + std::to_string(i), c.p11().C_FindObjects(s, &h, 1, &n)).With("count=" + std::to_string(n));
                    }
                    c.Rec("C_FindObjectsFinal", c.p11().C_FindObjectsFinal(s));
                  }});
  list.push_back({"find/max-zero", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    std::string label = MakeData(c, s, 2);
                    Template t;
                    t.Str(CKA_LABEL, label);
                    auto a = t.Get();
                    c.Rec("C_FindObjectsInit", c.p11().C_FindObjectsInit(s, a.data(), a.size()));
                    CK_OBJECT_HANDLE h[4];
                    CK_ULONG n = 99;
                    c.Rec("C_FindObjects(max 0)", c.p11().C_FindObjects(s, h, 0, &n)).With("count=" + std::to_string(n));
                    c.Rec("C_FindObjects(max 4)", c.p11().C_FindObjects(s, h, 4, &n)).With("count=" + std::to_string(n));
                  }});
  list.push_back({"find/no-match", [](Context& c) {
                    Template t;
                    t.Str(CKA_LABEL, "no object has this label");
                    c.Find(c.Open(c.MainSlot(), false), t.Get(), "find");
                  }});
  list.push_back({"find/empty-template-finds-session-objects", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    MakeData(c, s, 2);
                    // The total depends on what the module keeps; only "at least the new ones" is compared.
                    c.Rec("C_FindObjectsInit(empty)", c.p11().C_FindObjectsInit(s, nullptr, 0));
                    CK_OBJECT_HANDLE h[64];
                    CK_ULONG n = 0, total = 0;
                    while (c.p11().C_FindObjects(s, h, 64, &n) == CKR_OK && n > 0) total += n;
                    c.Rec("C_FindObjectsFinal", c.p11().C_FindObjectsFinal(s));
                    c.Note("found at least the 2 new objects", total >= 2 ? "yes" : "no");
                  }});
  list.push_back({"find/by-id-logged-in-and-out", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    Template t;
                    t.Str(CKA_ID, kRsaKey);
                    c.Find(s, t.Get(), "find by CKA_ID before login");
                    c.Login(s);
                    c.Find(s, t.Get(), "find by CKA_ID after login");
                  }});
  list.push_back({"find/by-class-key-type", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Login(s);
                    Template t;
                    t.Ulong(CKA_CLASS, CKO_PRIVATE_KEY).Ulong(CKA_KEY_TYPE, CKK_EC).Str(CKA_LABEL, kEc384Key);
                    c.Find(s, t.Get(), "find EC private key");
                    Template u;
                    u.Ulong(CKA_CLASS, CKO_PRIVATE_KEY).Ulong(CKA_KEY_TYPE, CKK_RSA).Str(CKA_LABEL, kEc384Key);
                    c.Find(s, u.Get(), "find with wrong key type");
                  }});
  list.push_back({"find/unknown-attribute-matches-nothing", [](Context& c) {
                    Template t;
                    t.Ulong(0x7fff0001, 1);
                    c.Find(c.Open(c.MainSlot(), false), t.Get(), "find");
                  }});
  list.push_back({"find/null-template-nonzero-count", [](Context& c) {
                    c.Rec("C_FindObjectsInit(NULL, 2)", c.p11().C_FindObjectsInit(c.Open(c.MainSlot(), false), nullptr, 2));
                  }});
  list.push_back({"find/null-output", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Need("C_FindObjectsInit", c.p11().C_FindObjectsInit(s, nullptr, 0));
                    CK_ULONG n = 0;
                    c.Rec("C_FindObjects(phObject NULL)", c.p11().C_FindObjects(s, nullptr, 4, &n));
                    CK_OBJECT_HANDLE h[4];
                    c.Rec("C_FindObjects(pulCount NULL)", c.p11().C_FindObjects(s, h, 4, nullptr));
                  }});
  list.push_back({"find/sessions-independent", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE a = c.Open(slot, false), b = c.Open(slot, false);
                    c.Rec("C_FindObjectsInit A", c.p11().C_FindObjectsInit(a, nullptr, 0));
                    c.Rec("C_FindObjectsInit B", c.p11().C_FindObjectsInit(b, nullptr, 0));
                    c.Rec("C_FindObjectsFinal A", c.p11().C_FindObjectsFinal(a));
                    c.Rec("C_FindObjectsFinal B", c.p11().C_FindObjectsFinal(b));
                  }});
  list.push_back({"find/find-blocks-other-operations", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Rec("C_FindObjectsInit", c.p11().C_FindObjectsInit(s, nullptr, 0));
                    CK_MECHANISM m{CKM_SHA256, nullptr, 0};
                    CK_RV rv = c.Rec("C_DigestInit during find", c.p11().C_DigestInit(s, &m));
                    c.Note("digest allowed during find", rv == CKR_OK ? "yes" : "no");
                  }});
}

}  // namespace vtoken::conformance
