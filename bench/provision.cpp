// Provisioning through the API, so both modules get the same token and keys
// from the same calls: C_InitToken on the free slot, C_InitPIN, then an
// RSA-2048 and a P-256 key pair generated on the token.
#include <algorithm>
#include <chrono>
#include <thread>

#include "bench/measure.h"

namespace vtoken::bench {

void Provision(Module& m, const std::string& label, const std::string& so_pin, const std::string& pin) {
  auto& p11 = m.p11();
  unsigned char padded[32];
  std::fill(std::begin(padded), std::end(padded), ' ');
  std::copy_n(label.begin(), std::min<std::size_t>(label.size(), 32), padded);
  Check("C_InitToken", p11.C_InitToken(m.FreeSlot(), (unsigned char*)so_pin.data(), so_pin.size(), padded));
  CK_SLOT_ID slot = 0;
  for (int attempt = 0;; ++attempt) {  // a module may show the new token a moment later
    try {
      slot = m.SlotByLabel(label);
      break;
    } catch (const std::exception&) {
      if (attempt > 40) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  CK_SESSION_HANDLE s;
  Check("C_OpenSession", p11.C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s));
  Check("C_Login(SO)", p11.C_Login(s, CKU_SO, (unsigned char*)so_pin.data(), so_pin.size()));
  Check("C_InitPIN", p11.C_InitPIN(s, (unsigned char*)pin.data(), pin.size()));
  Check("C_Logout", p11.C_Logout(s));
  Check("C_Login(USER)", p11.C_Login(s, CKU_USER, (unsigned char*)pin.data(), pin.size()));

  CK_BBOOL yes = CK_TRUE;
  CK_ULONG bits = 2048;
  unsigned char exponent[] = {1, 0, 1};
  std::string rsa = kRsaLabel, ec = kEcLabel;
  unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
  CK_OBJECT_HANDLE pub, priv;
  {
    CK_MECHANISM mech{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, 1}, {CKA_VERIFY, &yes, 1}, {CKA_MODULUS_BITS, &bits, sizeof bits},
                         {CKA_PUBLIC_EXPONENT, exponent, 3}, {CKA_LABEL, rsa.data(), rsa.size()}, {CKA_ID, rsa.data(), rsa.size()}};
    CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_SIGN, &yes, 1},
                         {CKA_LABEL, rsa.data(), rsa.size()}, {CKA_ID, rsa.data(), rsa.size()}};
    Check("C_GenerateKeyPair(RSA-2048)", p11.C_GenerateKeyPair(s, &mech, pt, 6, kt, 6, &pub, &priv));
  }
  {
    CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, 1}, {CKA_VERIFY, &yes, 1}, {CKA_EC_PARAMS, p256, sizeof p256},
                         {CKA_LABEL, ec.data(), ec.size()}, {CKA_ID, ec.data(), ec.size()}};
    CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SENSITIVE, &yes, 1}, {CKA_SIGN, &yes, 1},
                         {CKA_LABEL, ec.data(), ec.size()}, {CKA_ID, ec.data(), ec.size()}};
    Check("C_GenerateKeyPair(P-256)", p11.C_GenerateKeyPair(s, &mech, pt, 5, kt, 6, &pub, &priv));
  }
  p11.C_CloseSession(s);
}

}  // namespace vtoken::bench
