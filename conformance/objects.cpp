// Object management and search (PKCS#11 v2.40 §5.7, §5.8): create, find,
// destroy; templates with missing or inconsistent attributes; private
// objects invisible before login; session objects' lifetime.
#include "conformance/crypto_check.h"

namespace vtoken::conformance {
namespace {

Template DataObject(std::string_view label, bool token, bool priv) {
  Template t;
  t.Ulong(CKA_CLASS, CKO_DATA).Bool(CKA_TOKEN, token).Bool(CKA_PRIVATE, priv).Str(CKA_LABEL, label)
      .Str(CKA_APPLICATION, "vtoken conformance").Str(CKA_VALUE, "some data");
  return t;
}

CK_RV Create(Context& c, CK_SESSION_HANDLE s, Template t, CK_OBJECT_HANDLE* h = nullptr) {
  CK_OBJECT_HANDLE dummy;
  auto a = t.Get();
  return c.p11().C_CreateObject(s, a.data(), a.size(), h ? h : &dummy);
}

std::vector<CK_OBJECT_HANDLE> FindLabel(Context& c, CK_SESSION_HANDLE s, std::string_view label, std::string_view step) {
  Template t;
  t.Str(CKA_LABEL, label);
  return c.Find(s, t.Get(), step);
}

Template Cert(const Certificate& cert, std::string_view label) {
  Template t;
  t.Ulong(CKA_CLASS, CKO_CERTIFICATE).Ulong(CKA_CERTIFICATE_TYPE, CKC_X_509).Bool(CKA_TOKEN, true)
      .Str(CKA_LABEL, label).Str(CKA_ID, label).Add(CKA_VALUE, cert.der).Add(CKA_SUBJECT, cert.subject)
      .Add(CKA_ISSUER, cert.issuer).Add(CKA_SERIAL_NUMBER, cert.serial);
  return t;
}

void AddBadTemplate(ScenarioList& list, const char* name, std::function<Template(std::string_view)> make) {
  list.push_back({std::string("objects/create-bad-template-") + name, [=](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Login(s);
                    std::string label = c.UniqueLabel("bad");
                    c.Rec("C_CreateObject", Create(c, s, make(label)));
                    FindLabel(c, s, label, "find created");
                  }});
}

}  // namespace

void AddObjects(ScenarioList& list) {
  list.push_back({"objects/create-data-public-token", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    std::string label = c.UniqueLabel("d");
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject", Create(c, s, DataObject(label, true, false), &h));
                    c.Note("CKA_VALUE", c.Attr(s, h, CKA_VALUE, "read CKA_VALUE") == ToBytes("some data") ? "same" : "different");
                    FindLabel(c, c.Open(slot, false), label, "find from another session");
                  }});
  list.push_back({"objects/create-token-object-ro-session", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    c.Rec("C_CreateObject(token, RO)", Create(c, s, DataObject(c.UniqueLabel("d"), true, false)));
                  }});
  list.push_back({"objects/create-session-object-ro-session", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    std::string label = c.UniqueLabel("d");
                    c.Rec("C_CreateObject(session object, RO)", Create(c, s, DataObject(label, false, false)));
                    FindLabel(c, s, label, "find");
                  }});
  list.push_back({"objects/create-private-before-login", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    c.Rec("C_CreateObject(private, public session)",
                          Create(c, s, DataObject(c.UniqueLabel("d"), true, true)));
                  }});
  list.push_back({"objects/private-invisible-before-login", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s);
                    std::string label = c.UniqueLabel("p");
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject(private)", Create(c, s, DataObject(label, true, true), &h));
                    FindLabel(c, s, label, "find logged in");
                    c.Rec("C_Logout", c.p11().C_Logout(s));
                    FindLabel(c, s, label, "find after logout");
                    CK_ATTRIBUTE a{CKA_LABEL, nullptr, 0};
                    c.Rec("C_GetAttributeValue after logout", c.p11().C_GetAttributeValue(s, h, &a, 1));
                    c.Login(s);
                    FindLabel(c, s, label, "find after login again");
                  }});
  list.push_back({"objects/private-keys-invisible-before-login", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    Template t;
                    t.Ulong(CKA_CLASS, CKO_PRIVATE_KEY);
                    c.Find(s, t.Get(), "find private keys before login");
                    Template p;
                    p.Ulong(CKA_CLASS, CKO_PUBLIC_KEY).Str(CKA_LABEL, kRsaKey);
                    c.Find(s, p.Get(), "find fixture public key before login");
                  }});
  list.push_back({"objects/destroy", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    std::string label = c.UniqueLabel("d");
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject", Create(c, s, DataObject(label, true, false), &h));
                    c.Rec("C_DestroyObject", c.p11().C_DestroyObject(s, h));
                    FindLabel(c, s, label, "find after destroy");
                    c.Rec("C_DestroyObject again", c.p11().C_DestroyObject(s, h));
                    CK_ATTRIBUTE a{CKA_LABEL, nullptr, 0};
                    c.Rec("C_GetAttributeValue destroyed", c.p11().C_GetAttributeValue(s, h, &a, 1));
                  }});
  list.push_back({"objects/destroy-token-object-ro-session", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject", Create(c, c.Open(slot, true), DataObject(c.UniqueLabel("d"), true, false), &h));
                    c.Rec("C_DestroyObject(RO session)", c.p11().C_DestroyObject(c.Open(slot, false), h));
                  }});
  list.push_back({"objects/destroy-invalid-handle", [](Context& c) {
                    c.Rec("C_DestroyObject(0xdead0)", c.p11().C_DestroyObject(c.Open(c.MainSlot(), true), 0xdead0));
                  }});
  list.push_back({"objects/session-object-dies-with-session", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE keep = c.Open(slot, false), s = c.Open(slot, true);
                    std::string label = c.UniqueLabel("s");
                    c.Need("C_CreateObject(session object)", Create(c, s, DataObject(label, false, false)));
                    FindLabel(c, keep, label, "find from other session");
                    c.Rec("C_CloseSession", c.p11().C_CloseSession(s));
                    FindLabel(c, keep, label, "find after close");
                  }});
  list.push_back({"objects/set-attribute-label", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    std::string label = c.UniqueLabel("d"), renamed = c.UniqueLabel("r");
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject", Create(c, s, DataObject(label, true, false), &h));
                    Template t;
                    t.Str(CKA_LABEL, renamed);
                    auto a = t.Get();
                    c.Rec("C_SetAttributeValue(label)", c.p11().C_SetAttributeValue(s, h, a.data(), a.size()));
                    FindLabel(c, s, renamed, "find by new label");
                  }});
  list.push_back({"objects/create-certificate", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    Certificate cert = MakeCertificate("conformance cert");
                    std::string label = c.UniqueLabel("c");
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject(certificate)", Create(c, s, Cert(cert, label), &h));
                    CK_SESSION_HANDLE other = c.Open(slot, false);
                    auto found = FindLabel(c, other, label, "find certificate (public session)");
                    // The DER length varies with the ECDSA signature, so only the comparison is recorded.
                    c.Note("CKA_VALUE", c.Attr(other, h, CKA_VALUE, "", false) == cert.der ? "byte-exact" : "different");
                    c.Note("CKA_SUBJECT", c.Attr(other, h, CKA_SUBJECT, "read CKA_SUBJECT") == cert.subject ? "byte-exact" : "different");
                    Bytes priv = c.Attr(other, h, CKA_PRIVATE, "read CKA_PRIVATE");
                    c.Note("CKA_PRIVATE", priv.size() == 1 ? (priv[0] ? "true" : "false") : "?");
                  }});
  list.push_back({"objects/certificate-attributes-derived-from-der", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), true);
                    Certificate cert = MakeCertificate("derived");
                    Template t;
                    t.Ulong(CKA_CLASS, CKO_CERTIFICATE).Ulong(CKA_CERTIFICATE_TYPE, CKC_X_509).Bool(CKA_TOKEN, true)
                        .Str(CKA_LABEL, c.UniqueLabel("c")).Add(CKA_VALUE, cert.der);
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject(certificate, CKA_VALUE only)", Create(c, s, t, &h));
                    c.Note("CKA_SUBJECT", c.Attr(s, h, CKA_SUBJECT, "read CKA_SUBJECT") == cert.subject ? "from DER" : "not derived");
                    c.Note("CKA_ISSUER", c.Attr(s, h, CKA_ISSUER, "read CKA_ISSUER") == cert.issuer ? "from DER" : "not derived");
                    c.Note("CKA_SERIAL_NUMBER", c.Attr(s, h, CKA_SERIAL_NUMBER, "read CKA_SERIAL_NUMBER") == cert.serial ? "from DER" : "not derived");
                  }});
  list.push_back({"objects/create-rsa-public-key", [](Context& c) {
                    CK_SLOT_ID slot = c.MainSlot();
                    CK_SESSION_HANDLE s = c.Open(slot, true);
                    c.Login(s);
                    CK_OBJECT_HANDLE fixture = c.Key(s, kRsaKey, CKO_PUBLIC_KEY);
                    Bytes n = c.Attr(s, fixture, CKA_MODULUS, "read CKA_MODULUS");
                    Template t;
                    std::string label = c.UniqueLabel("k");
                    t.Ulong(CKA_CLASS, CKO_PUBLIC_KEY).Ulong(CKA_KEY_TYPE, CKK_RSA).Bool(CKA_TOKEN, true)
                        .Bool(CKA_VERIFY, true).Str(CKA_LABEL, label).Add(CKA_MODULUS, n).Add(CKA_PUBLIC_EXPONENT, {1, 0, 1});
                    CK_OBJECT_HANDLE h;
                    c.Need("C_CreateObject(RSA public key)", Create(c, s, t, &h));
                    Bytes bits = c.Attr(s, h, CKA_MODULUS_BITS, "read CKA_MODULUS_BITS");
                    c.Note("CKA_MODULUS_BITS", bits.size() == sizeof(CK_ULONG) ? std::to_string(*(CK_ULONG*)bits.data()) : "?");
                  }});
  AddBadTemplate(list, "no-class", [](std::string_view label) {
    Template t;
    t.Bool(CKA_TOKEN, true).Str(CKA_LABEL, label).Str(CKA_VALUE, "x");
    return t;
  });
  AddBadTemplate(list, "cert-no-type", [](std::string_view label) {
    Template t;
    t.Ulong(CKA_CLASS, CKO_CERTIFICATE).Bool(CKA_TOKEN, true).Str(CKA_LABEL, label)
        .Add(CKA_VALUE, MakeCertificate("x").der);
    return t;
  });
  AddBadTemplate(list, "rsa-public-no-modulus", [](std::string_view label) {
    Template t;
    t.Ulong(CKA_CLASS, CKO_PUBLIC_KEY).Ulong(CKA_KEY_TYPE, CKK_RSA).Bool(CKA_TOKEN, true).Str(CKA_LABEL, label)
        .Add(CKA_PUBLIC_EXPONENT, {1, 0, 1});
    return t;
  });
  AddBadTemplate(list, "bool-wrong-length", [](std::string_view label) {
    Template t = DataObject(label, true, false);
    t.Add(CKA_MODIFIABLE, {1, 0, 0, 0});
    return t;
  });
  AddBadTemplate(list, "class-wrong-length", [](std::string_view label) {
    Template t;
    t.Add(CKA_CLASS, {0}).Bool(CKA_TOKEN, true).Str(CKA_LABEL, label);
    return t;
  });
  AddBadTemplate(list, "unknown-attribute-type", [](std::string_view label) {
    Template t = DataObject(label, true, false);
    t.Ulong(0x7fff0001, 1);
    return t;
  });
  AddBadTemplate(list, "unknown-class", [](std::string_view label) {
    Template t;
    t.Ulong(CKA_CLASS, 0x7fff0002).Bool(CKA_TOKEN, true).Str(CKA_LABEL, label);
    return t;
  });
  AddBadTemplate(list, "ec-public-no-point", [](std::string_view label) {
    Template t;
    t.Ulong(CKA_CLASS, CKO_PUBLIC_KEY).Ulong(CKA_KEY_TYPE, CKK_EC).Bool(CKA_TOKEN, true).Str(CKA_LABEL, label)
        .Add(CKA_EC_PARAMS, kOidP256);
    return t;
  });
  AddBadTemplate(list, "certificate-bad-type", [](std::string_view label) {
    Template t;
    t.Ulong(CKA_CLASS, CKO_CERTIFICATE).Ulong(CKA_CERTIFICATE_TYPE, 0x7fff0003).Bool(CKA_TOKEN, true)
        .Str(CKA_LABEL, label).Str(CKA_VALUE, "not DER");
    return t;
  });
  list.push_back({"objects/create-null-template", [](Context& c) {
                    CK_OBJECT_HANDLE h;
                    c.Rec("C_CreateObject(NULL, 3)", c.p11().C_CreateObject(c.Open(c.MainSlot(), true), nullptr, 3, &h));
                  }});
  list.push_back({"objects/create-null-handle-out", [](Context& c) {
                    Template t = DataObject(c.UniqueLabel("d"), false, false);
                    auto a = t.Get();
                    c.Rec("C_CreateObject(phObject NULL)",
                          c.p11().C_CreateObject(c.Open(c.MainSlot(), true), a.data(), a.size(), nullptr));
                  }});
}

}  // namespace vtoken::conformance
