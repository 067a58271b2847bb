// C_GetAttributeValue / C_SetAttributeValue rules (PKCS#11 v2.40 §5.7):
// length query, buffer too small, sensitive and invalid attributes — every
// attribute of a template processed — and the attributes of generated keys.
#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

std::string LenText(CK_ULONG len) {
  return len == CK_UNAVAILABLE_INFORMATION ? "UNAVAILABLE" : std::to_string(len);
}

// Opens a logged-in session on the main token and finds a fixture key.
CK_OBJECT_HANDLE FixtureKey(Context& c, CK_SESSION_HANDLE& s, std::string_view label, CK_OBJECT_CLASS cls) {
  s = c.Open(c.MainSlot(), true);
  c.Login(s);
  return c.Key(s, label, cls);
}

void AddBoolAttr(ScenarioList& list, const char* name, std::string_view key, CK_OBJECT_CLASS cls,
                 CK_ATTRIBUTE_TYPE t) {
  list.push_back({std::string("attributes/") + name, [=](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, key, cls);
                    Bytes v = c.Attr(s, h, t, "C_GetAttributeValue");
                    c.Note("value", v.size() == 1 ? (v[0] ? "true" : "false") : "len=" + std::to_string(v.size()));
                  }});
}

void AddUlongAttr(ScenarioList& list, const char* name, std::string_view key, CK_OBJECT_CLASS cls,
                  CK_ATTRIBUTE_TYPE t) {
  list.push_back({std::string("attributes/") + name, [=](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, key, cls);
                    Bytes v = c.Attr(s, h, t, "C_GetAttributeValue");
                    c.Note("value", v.size() == sizeof(CK_ULONG) ? std::to_string(*(CK_ULONG*)v.data()) : "?");
                  }});
}

}  // namespace

void AddAttributes(ScenarioList& list) {
  list.push_back({"attributes/length-query", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    CK_ATTRIBUTE a{CKA_MODULUS, nullptr, 0};
                    c.Rec("C_GetAttributeValue(NULL)", c.p11().C_GetAttributeValue(s, h, &a, 1)).With(LenText(a.ulValueLen));
                  }});
  list.push_back({"attributes/buffer-too-small", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    unsigned char buf[4];
                    CK_ATTRIBUTE a{CKA_MODULUS, buf, sizeof buf};
                    c.Rec("C_GetAttributeValue(4 bytes)", c.p11().C_GetAttributeValue(s, h, &a, 1)).With(LenText(a.ulValueLen));
                  }});
  list.push_back({"attributes/sensitive", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PRIVATE_KEY);
                    for (CK_ATTRIBUTE_TYPE t : {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_COEFFICIENT}) {
                      unsigned char buf[1024];
                      CK_ATTRIBUTE a{t, buf, sizeof buf};
                      c.Rec("C_GetAttributeValue(0x" + std::to_string(t) + ")", c.p11().C_GetAttributeValue(s, h, &a, 1)).With(LenText(a.ulValueLen));
                    }
                  }});
  list.push_back({"attributes/sensitive-ec-value", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kEc256Key, CKO_PRIVATE_KEY);
                    CK_ATTRIBUTE a{CKA_VALUE, nullptr, 0};
                    c.Rec("C_GetAttributeValue(CKA_VALUE)", c.p11().C_GetAttributeValue(s, h, &a, 1)).With(LenText(a.ulValueLen));
                  }});
  list.push_back({"attributes/invalid-type", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    CK_ATTRIBUTE a{0x7fff0001, nullptr, 0};
                    c.Rec("C_GetAttributeValue(0x7fff0001)", c.p11().C_GetAttributeValue(s, h, &a, 1)).With(LenText(a.ulValueLen));
                  }});
  list.push_back({"attributes/every-attribute-processed-invalid", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    unsigned char label[64], bad[8], id[64];
                    CK_ATTRIBUTE a[] = {{CKA_LABEL, label, sizeof label}, {0x7fff0001, bad, sizeof bad}, {CKA_ID, id, sizeof id}};
                    c.Rec("C_GetAttributeValue(label, invalid, id)", c.p11().C_GetAttributeValue(s, h, a, 3)).With(LenText(a[0].ulValueLen) + "," + LenText(a[1].ulValueLen) + "," + LenText(a[2].ulValueLen));
                  }});
  list.push_back({"attributes/every-attribute-processed-sensitive", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PRIVATE_KEY);
                    unsigned char d[1024], n[1024], small[2];
                    CK_ATTRIBUTE a[] = {{CKA_PRIVATE_EXPONENT, d, sizeof d}, {CKA_MODULUS, n, sizeof n}, {CKA_LABEL, small, 0}};
                    CK_RV rv = c.p11().C_GetAttributeValue(s, h, a, 2);
                    c.Rec("C_GetAttributeValue(d, n)", rv).With(LenText(a[0].ulValueLen) + "," + LenText(a[1].ulValueLen));
                  }});
  list.push_back({"attributes/every-attribute-processed-too-small", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    unsigned char small[2], e[16];
                    CK_ATTRIBUTE a[] = {{CKA_MODULUS, small, sizeof small}, {CKA_PUBLIC_EXPONENT, e, sizeof e}};
                    c.Rec("C_GetAttributeValue(n too small, e)", c.p11().C_GetAttributeValue(s, h, a, 2)).With(LenText(a[0].ulValueLen) + "," + LenText(a[1].ulValueLen));
                  }});
  list.push_back({"attributes/multiple-length-queries", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kEc256Key, CKO_PUBLIC_KEY);
                    CK_ATTRIBUTE a[] = {{CKA_EC_PARAMS, nullptr, 0}, {CKA_EC_POINT, nullptr, 0}, {CKA_LABEL, nullptr, 0}};
                    c.Rec("C_GetAttributeValue(3 x NULL)", c.p11().C_GetAttributeValue(s, h, a, 3)).With(LenText(a[0].ulValueLen) + "," + LenText(a[1].ulValueLen) + "," + LenText(a[2].ulValueLen));
                  }});
  list.push_back({"attributes/zero-count", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    CK_ATTRIBUTE a{CKA_LABEL, nullptr, 0};
                    c.Rec("C_GetAttributeValue(count 0)", c.p11().C_GetAttributeValue(s, h, &a, 0));
                  }});
  list.push_back({"attributes/null-template", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    c.Rec("C_GetAttributeValue(NULL, 1)", c.p11().C_GetAttributeValue(s, h, nullptr, 1));
                  }});
  list.push_back({"attributes/invalid-object", [](Context& c) {
                    CK_ATTRIBUTE a{CKA_LABEL, nullptr, 0};
                    c.Rec("C_GetAttributeValue(0xdead0)",
                          c.p11().C_GetAttributeValue(c.Open(c.MainSlot(), false), 0xdead0, &a, 1));
                  }});
  list.push_back({"attributes/rsa-private-public-parts", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE priv = FixtureKey(c, s, kRsaKey, CKO_PRIVATE_KEY);
                    CK_OBJECT_HANDLE pub = c.Key(s, kRsaKey, CKO_PUBLIC_KEY);
                    Bytes n1 = c.Attr(s, priv, CKA_MODULUS, "private CKA_MODULUS");
                    Bytes e1 = c.Attr(s, priv, CKA_PUBLIC_EXPONENT, "private CKA_PUBLIC_EXPONENT");
                    c.Note("same as public key", n1 == c.Attr(s, pub, CKA_MODULUS, "", false) &&
                                                         e1 == c.Attr(s, pub, CKA_PUBLIC_EXPONENT, "", false)
                                                     ? "yes"
                                                     : "no");
                  }});
  list.push_back({"attributes/ids-match", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    FixtureKey(c, s, kRsaKey, CKO_PUBLIC_KEY);
                    for (auto key : {kRsaKey, kEc256Key}) {
                      CK_OBJECT_HANDLE priv = c.Key(s, key, CKO_PRIVATE_KEY);
                      CK_OBJECT_HANDLE pub = c.Key(s, key, CKO_PUBLIC_KEY);
                      c.Note("CKA_ID pub == priv", c.Attr(s, priv, CKA_ID, "priv CKA_ID") == c.Attr(s, pub, CKA_ID, "pub CKA_ID") ? "yes" : "no");
                    }
                  }});
  list.push_back({"attributes/ec-params-and-point", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    FixtureKey(c, s, kEc256Key, CKO_PUBLIC_KEY);
                    for (auto [key, oid, point_len] : {std::tuple{kEc256Key, kOidP256, 67}, std::tuple{kEc384Key, kOidP384, 99}}) {
                      CK_OBJECT_HANDLE pub = c.Key(s, key, CKO_PUBLIC_KEY);
                      c.Note("CKA_EC_PARAMS", c.Attr(s, pub, CKA_EC_PARAMS, "pub CKA_EC_PARAMS") == oid ? "named curve OID" : "other");
                      Bytes p = c.Attr(s, pub, CKA_EC_POINT, "pub CKA_EC_POINT");
                      c.Note("CKA_EC_POINT", p.size() == std::size_t(point_len) && p[0] == 0x04 && p[1] == point_len - 2 && p[2] == 0x04
                                                 ? "DER OCTET STRING, uncompressed"
                                                 : "other encoding, len=" + std::to_string(p.size()));
                      CK_OBJECT_HANDLE priv = c.Key(s, key, CKO_PRIVATE_KEY);
                      c.Note("private CKA_EC_PARAMS", c.Attr(s, priv, CKA_EC_PARAMS, "priv CKA_EC_PARAMS") == oid ? "named curve OID" : "other");
                    }
                  }});
  list.push_back({"attributes/public-key-info", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE pub = FixtureKey(c, s, kEc256Key, CKO_PUBLIC_KEY);
                    c.Attr(s, pub, CKA_PUBLIC_KEY_INFO, "pub CKA_PUBLIC_KEY_INFO");
                  }});
  AddBoolAttr(list, "private-key-sensitive", kRsaKey, CKO_PRIVATE_KEY, CKA_SENSITIVE);
  AddBoolAttr(list, "private-key-always-sensitive", kRsaKey, CKO_PRIVATE_KEY, CKA_ALWAYS_SENSITIVE);
  AddBoolAttr(list, "private-key-never-extractable", kRsaKey, CKO_PRIVATE_KEY, CKA_NEVER_EXTRACTABLE);
  AddBoolAttr(list, "private-key-local", kEc256Key, CKO_PRIVATE_KEY, CKA_LOCAL);
  AddBoolAttr(list, "private-key-sign", kEc256Key, CKO_PRIVATE_KEY, CKA_SIGN);
  AddBoolAttr(list, "private-key-private", kEc256Key, CKO_PRIVATE_KEY, CKA_PRIVATE);
  AddBoolAttr(list, "private-key-token", kRsaKey, CKO_PRIVATE_KEY, CKA_TOKEN);
  AddBoolAttr(list, "public-key-private", kRsaKey, CKO_PUBLIC_KEY, CKA_PRIVATE);
  AddBoolAttr(list, "public-key-verify", kRsaKey, CKO_PUBLIC_KEY, CKA_VERIFY);
  AddUlongAttr(list, "public-key-modulus-bits", kRsaKey, CKO_PUBLIC_KEY, CKA_MODULUS_BITS);
  AddUlongAttr(list, "private-key-type-rsa", kRsaKey, CKO_PRIVATE_KEY, CKA_KEY_TYPE);
  AddUlongAttr(list, "private-key-type-ec", kEc384Key, CKO_PRIVATE_KEY, CKA_KEY_TYPE);
  AddUlongAttr(list, "public-key-class", kEc384Key, CKO_PUBLIC_KEY, CKA_CLASS);
  list.push_back({"attributes/set-read-only-class", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kEc256Key, CKO_PUBLIC_KEY);
                    Template t;
                    t.Ulong(CKA_CLASS, CKO_DATA);
                    auto a = t.Get();
                    c.Rec("C_SetAttributeValue(CKA_CLASS)", c.p11().C_SetAttributeValue(s, h, a.data(), a.size()));
                  }});
  list.push_back({"attributes/set-sensitive-false", [](Context& c) {
                    CK_SESSION_HANDLE s;
                    CK_OBJECT_HANDLE h = FixtureKey(c, s, kEc256Key, CKO_PRIVATE_KEY);
                    Template t;
                    t.Bool(CKA_SENSITIVE, false);
                    auto a = t.Get();
                    c.Rec("C_SetAttributeValue(CKA_SENSITIVE=false)", c.p11().C_SetAttributeValue(s, h, a.data(), a.size()));
                  }});
}

}  // namespace vtoken::conformance
