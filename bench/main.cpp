// vtoken-bench: how fast a PKCS#11 module signs, answers C_GetSlotInfo and
// starts. Works with any module; bench/run.sh runs it on SoftHSMv2 and vtoken.
//   vtoken-bench --module PATH --pin PIN --token-label L [--seconds 3] [--name NAME]
//                [--cold-runs 10] [--slotinfo-calls 1000000]
//   vtoken-bench --module PATH --provision --token-label L --so-pin SO --pin PIN
//   vtoken-bench --module PATH --token-label L (--pin PIN | --no-pin) --key LABEL [--seconds 3] [--name NAME]
//     (sign only, with an existing key, 1 and 2 threads: CKM_SHA256_RSA_PKCS
//      for an RSA key, CKM_ECDSA over a SHA-256 hash for an EC key; --no-pin
//      logs in with a NULL PIN, as on the cloud token)
#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "bench/measure.h"

namespace vtoken::bench {
namespace {

struct Options {
  std::string module, pin, label, so_pin = "12345678", name, key;
  double seconds = 3;
  int cold_runs = 10;
  long slotinfo_calls = 1000000;
  bool provision = false;
  bool no_pin = false;
};

std::vector<unsigned char> Sha256Of(const std::string& s) {
  std::vector<unsigned char> out(32);
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

int Usage() {
  std::fprintf(stderr,
               "usage: vtoken-bench --module PATH --pin PIN --token-label LABEL [--seconds 3] [--name NAME]\n"
               "                    [--cold-runs 10] [--slotinfo-calls 1000000]\n"
               "       vtoken-bench --module PATH --provision --token-label LABEL [--so-pin SO] --pin PIN\n"
               "       vtoken-bench --module PATH --token-label LABEL (--pin PIN | --no-pin) --key KEY-LABEL [--seconds 3]\n");
  return 2;
}

std::string Row(const char* what, const SignStats& s) {
  char buf[256];
  if (!s.error.empty())
    std::snprintf(buf, sizeof buf, "  %-34s FAILED: %s\n", what, s.error.c_str());
  else
    std::snprintf(buf, sizeof buf, "  %-34s %10.0f sig/s  p50 %8.1f us  p90 %8.1f us  p99 %8.1f us  (%ld)\n", what,
                  s.per_second, s.p50_us, s.p90_us, s.p99_us, s.signatures);
  return buf;
}

int Run(const Options& o, const std::string& self) {
  Module m(o.module);
  m.Initialize();
  if (o.provision) {
    Provision(m, o.label, o.so_pin, o.pin);
    std::printf("provisioned token '%s' with keys %s and %s\n", o.label.c_str(), kRsaLabel, kEcLabel);
    return 0;
  }
  CK_SLOT_ID slot = m.SlotByLabel(o.label);
  CK_SESSION_HANDLE login;  // kept open: login state belongs to the application
  Check("C_OpenSession", m.p11().C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &login));
  if (o.no_pin) Check("C_Login", m.p11().C_Login(login, CKU_USER, nullptr, 0));
  else Check("C_Login", m.p11().C_Login(login, CKU_USER, (unsigned char*)o.pin.data(), o.pin.size()));
  const std::vector<unsigned char> message(64, 'm');
  if (!o.key.empty()) {  // sign only, with an existing RSA or EC key
    CK_OBJECT_HANDLE key = m.PrivateKey(login, o.key);
    CK_KEY_TYPE type = 0;
    CK_ATTRIBUTE type_attr{CKA_KEY_TYPE, &type, sizeof type};
    Check("C_GetAttributeValue(CKA_KEY_TYPE)", m.p11().C_GetAttributeValue(login, key, &type_attr, 1));
    const bool ec = type == CKK_EC;
    const CK_MECHANISM_TYPE mech = ec ? CKM_ECDSA : CKM_SHA256_RSA_PKCS;
    const std::vector<unsigned char> input = ec ? Sha256Of("vtoken bench") : message;
    const std::string what = ec ? "ECDSA (SHA-256 hash)" : "RSA SHA256_RSA_PKCS";
    std::printf("%s (%s), key %s, %.1f s per run\n", o.name.c_str(), o.module.c_str(), o.key.c_str(), o.seconds);
    SignStats s1 = MeasureSign(m, slot, key, mech, input, 1, o.seconds);
    std::fputs(Row((what + ", 1 thread").c_str(), s1).c_str(), stdout);
    SignStats s2 = MeasureSign(m, slot, key, mech, input, 2, o.seconds);
    std::fputs(Row((what + ", 2 threads").c_str(), s2).c_str(), stdout);
    std::printf("markdown-sign: | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n", o.name.c_str(), s1.p50_us, s1.p90_us,
                s1.p99_us, s1.per_second, s2.per_second, s2.p50_us);
    m.p11().C_CloseSession(login);
    m.Finalize();
    return s1.error.empty() && s2.error.empty() ? 0 : 1;
  }
  CK_OBJECT_HANDLE rsa = m.PrivateKey(login, kRsaLabel), ec = m.PrivateKey(login, kEcLabel);

  const std::vector<unsigned char> hash = Sha256Of("vtoken bench");
  std::printf("%s (%s), %.1f s per run\n", o.name.c_str(), o.module.c_str(), o.seconds);
  SignStats r1 = MeasureSign(m, slot, rsa, CKM_SHA256_RSA_PKCS, message, 1, o.seconds);
  std::fputs(Row("RSA-2048 SHA256_RSA_PKCS, 1 thread", r1).c_str(), stdout);
  SignStats r2 = MeasureSign(m, slot, rsa, CKM_SHA256_RSA_PKCS, message, 2, o.seconds);
  std::fputs(Row("RSA-2048 SHA256_RSA_PKCS, 2 threads", r2).c_str(), stdout);
  SignStats e1 = MeasureSign(m, slot, ec, CKM_ECDSA, hash, 1, o.seconds);
  std::fputs(Row("P-256 ECDSA (SHA-256 hash), 1 thread", e1).c_str(), stdout);
  SignStats e2 = MeasureSign(m, slot, ec, CKM_ECDSA, hash, 2, o.seconds);
  std::fputs(Row("P-256 ECDSA (SHA-256 hash), 2 threads", e2).c_str(), stdout);
  const double slot_ns = MeasureSlotInfoNs(m, slot, o.slotinfo_calls);
  std::printf("  %-34s %10.1f ns per call (%ld calls)\n", "C_GetSlotInfo", slot_ns, o.slotinfo_calls);
  m.p11().C_CloseSession(login);
  m.Finalize();
  const double cold = MeasureColdStartMs(self, o.module, o.label, o.cold_runs);
  std::printf("  %-34s %10.2f ms (median of %d fresh processes)\n", "cold start to first C_GetTokenInfo", cold,
              o.cold_runs);
  std::printf("markdown: | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f |\n", o.name.c_str(),
              r1.per_second, r2.per_second, r1.p50_us, e1.per_second, e2.per_second, e1.p50_us, slot_ns, cold);
  return r1.error.empty() && r2.error.empty() && e1.error.empty() && e2.error.empty() && cold >= 0 ? 0 : 1;
}

}  // namespace
}  // namespace vtoken::bench

int main(int argc, char** argv) {
  using namespace vtoken::bench;
  if (argc == 4 && std::string(argv[1]) == "--cold-child") return ColdChild(argv[2], argv[3]);
  Options o;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--module") o.module = next();
      else if (a == "--pin") o.pin = next();
      else if (a == "--so-pin") o.so_pin = next();
      else if (a == "--token-label") o.label = next();
      else if (a == "--name") o.name = next();
      else if (a == "--seconds") o.seconds = std::stod(next());
      else if (a == "--cold-runs") o.cold_runs = std::stoi(next());
      else if (a == "--slotinfo-calls") o.slotinfo_calls = std::stol(next());
      else if (a == "--provision") o.provision = true;
      else if (a == "--no-pin") o.no_pin = true;
      else if (a == "--key") o.key = next();
      else return Usage();
    }
    if (o.module.empty() || (o.pin.empty() && !o.no_pin) || o.label.empty() || o.seconds <= 0 || o.cold_runs < 1 ||
        o.slotinfo_calls < 1)
      return Usage();
    if (o.name.empty()) o.name = std::filesystem::path(o.module).filename().string();
    std::error_code ec;
    std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) self = argv[0];
    return Run(o, self);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vtoken-bench: %s\n", e.what());
    return 1;
  }
}
