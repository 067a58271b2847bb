// Digests, single- and multi-part, compared with OpenSSL; operation rules.
#include "conformance/crypto_check.h"

namespace vtoken::conformance {
namespace {

const std::pair<std::string_view, CK_MECHANISM_TYPE> kDigests[] = {
    {"SHA1", CKM_SHA_1}, {"SHA224", CKM_SHA224}, {"SHA256", CKM_SHA256}, {"SHA384", CKM_SHA384}, {"SHA512", CKM_SHA512}};

Bytes Data() { return Bytes(1000, 0x61); }

}  // namespace

void AddDigest(ScenarioList& list) {
  for (auto [md, mech] : kDigests) {
    list.push_back({"digest/" + std::string(md), [md, mech](Context& c) {
                      CK_SLOT_ID slot = c.MainSlot();
                      if (!c.Supports(slot, mech, CKF_DIGEST)) c.Stop("mechanism not supported by this module");
                      CK_SESSION_HANDLE s = c.Open(slot, false);
                      CK_MECHANISM m{mech, nullptr, 0};
                      c.Need("C_DigestInit", c.p11().C_DigestInit(s, &m));
                      Bytes data = Data(), out;
                      CK_ULONG len = 0;
                      c.Need("C_Digest(NULL)", c.p11().C_Digest(s, data.data(), data.size(), nullptr, &len), CKR_OK).With("len=" + std::to_string(len));
                      out.resize(len);
                      c.Need("C_Digest", c.p11().C_Digest(s, data.data(), data.size(), out.data(), &len));
                      out.resize(len);
                      c.Note("equals OpenSSL", out == Digest(md, data) ? "yes" : "no");
                    }});
    list.push_back({"digest/" + std::string(md) + "-multipart", [md, mech](Context& c) {
                      CK_SLOT_ID slot = c.MainSlot();
                      if (!c.Supports(slot, mech, CKF_DIGEST)) c.Stop("mechanism not supported by this module");
                      CK_SESSION_HANDLE s = c.Open(slot, false);
                      CK_MECHANISM m{mech, nullptr, 0};
                      c.Need("C_DigestInit", c.p11().C_DigestInit(s, &m));
                      Bytes data = Data();
                      for (int i = 0; i < 4; ++i)
                        c.Need("C_DigestUpdate", c.p11().C_DigestUpdate(s, data.data() + 250 * i, 250));
                      Bytes out(8);
                      CK_ULONG len = out.size();
                      c.Rec("C_DigestFinal(8 bytes)", c.p11().C_DigestFinal(s, out.data(), &len)).With("len=" + std::to_string(len));
                      out.resize(len);
                      c.Need("C_DigestFinal", c.p11().C_DigestFinal(s, out.data(), &len));
                      c.Note("equals OpenSSL", out == Digest(md, data) ? "yes" : "no");
                    }});
  }
  list.push_back({"digest/without-init", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    Bytes data = Data(), out(64);
                    CK_ULONG len = out.size();
                    c.Rec("C_Digest", c.p11().C_Digest(s, data.data(), data.size(), out.data(), &len));
                    c.Rec("C_DigestUpdate", c.p11().C_DigestUpdate(s, data.data(), data.size()));
                    c.Rec("C_DigestFinal", c.p11().C_DigestFinal(s, out.data(), &len));
                  }});
  list.push_back({"digest/init-twice", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    CK_MECHANISM m{CKM_SHA256, nullptr, 0};
                    c.Rec("C_DigestInit", c.p11().C_DigestInit(s, &m));
                    c.Rec("C_DigestInit again", c.p11().C_DigestInit(s, &m));
                  }});
  list.push_back({"digest/unknown-mechanism", [](Context& c) {
                    CK_MECHANISM m{0x7fff0000, nullptr, 0};
                    c.Rec("C_DigestInit(0x7fff0000)", c.p11().C_DigestInit(c.Open(c.MainSlot(), false), &m));
                  }});
  list.push_back({"digest/sign-mechanism", [](Context& c) {
                    CK_MECHANISM m{CKM_SHA256_RSA_PKCS, nullptr, 0};
                    c.Rec("C_DigestInit(SHA256_RSA_PKCS)", c.p11().C_DigestInit(c.Open(c.MainSlot(), false), &m));
                  }});
  list.push_back({"digest/finished-operation-ends", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    CK_MECHANISM m{CKM_SHA256, nullptr, 0};
                    c.Need("C_DigestInit", c.p11().C_DigestInit(s, &m));
                    Bytes data = Data(), out(32);
                    CK_ULONG len = out.size();
                    c.Rec("C_Digest", c.p11().C_Digest(s, data.data(), data.size(), out.data(), &len));
                    c.Rec("C_Digest again", c.p11().C_Digest(s, data.data(), data.size(), out.data(), &len));
                  }});
  list.push_back({"digest/empty-input", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    CK_MECHANISM m{CKM_SHA256, nullptr, 0};
                    c.Need("C_DigestInit", c.p11().C_DigestInit(s, &m));
                    Bytes out(32);
                    CK_ULONG len = out.size();
                    CK_BYTE dummy = 0;
                    c.Rec("C_Digest(0 bytes)", c.p11().C_Digest(s, &dummy, 0, out.data(), &len));
                    c.Note("equals OpenSSL", out == Digest("SHA256", {}) ? "yes" : "no");
                  }});
  list.push_back({"digest/null-length", [](Context& c) {
                    CK_SESSION_HANDLE s = c.Open(c.MainSlot(), false);
                    CK_MECHANISM m{CKM_SHA256, nullptr, 0};
                    c.Need("C_DigestInit", c.p11().C_DigestInit(s, &m));
                    Bytes data = Data();
                    c.Rec("C_Digest(pulDigestLen NULL)", c.p11().C_Digest(s, data.data(), data.size(), nullptr, nullptr));
                  }});
}

}  // namespace vtoken::conformance
