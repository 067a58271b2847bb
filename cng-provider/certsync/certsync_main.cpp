// vtoken-certsync: puts the token certificates into CurrentUser\MY with the
// vtoken provider named as their key's home, keeps them in step, removes them.
//   vtoken-certsync               sync once
//   vtoken-certsync --watch 10    sync every 10 s (run at logon)
//   vtoken-certsync --remove      remove every certificate this tool added
//   --store NAME                  another CurrentUser system store (tests)
#include <windows.h>
#include <wincrypt.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cng-provider/certsync/store_sync.h"
#include "cng-provider/src/wide.h"

using namespace vtoken::ksp;

namespace {

int Usage() {
  std::fprintf(stderr, "usage: vtoken-certsync [--remove | --watch SECONDS] [--store NAME]\n");
  return 2;
}

int RunOnce(const std::wstring& store_name, bool remove_all) {
  std::vector<TokenCertificate> wanted;
  if (!remove_all) {
    auto certs = TokenCertificates();
    if (!certs) {  // without the agent we cannot tell what is stale: touch nothing
      std::fprintf(stderr, "vtoken-certsync: %s\n", Describe(certs.error()).c_str());
      return 1;
    }
    wanted = std::move(*certs);
  }
  HCERTSTORE store = CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_CURRENT_USER, store_name.c_str());
  if (!store) {
    std::fprintf(stderr, "vtoken-certsync: cannot open CurrentUser\\%s (error %lu)\n", Narrow(store_name).c_str(), GetLastError());
    return 1;
  }
  CertControlStore(store, 0, CERT_STORE_CTRL_RESYNC, nullptr);
  auto report = SyncStore(store, wanted);
  CertControlStore(store, 0, CERT_STORE_CTRL_COMMIT, nullptr);  // Wine writes property changes only on commit
  CertCloseStore(store, 0);
  if (!report) {
    std::fprintf(stderr, "vtoken-certsync: %s\n", Describe(report.error()).c_str());
    return 1;
  }
  std::printf("vtoken-certsync: %d added, %d kept, %d removed\n", report->added, report->kept, report->removed);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int wmain(int argc, wchar_t** argv) {
  bool remove_all = false;
  long watch = 0;
  std::wstring store = L"MY";
  for (int i = 1; i < argc; ++i) {
    const std::wstring a = argv[i];
    if (a == L"--remove") remove_all = true;
    else if (a == L"--watch" && i + 1 < argc) watch = std::wcstol(argv[++i], nullptr, 10);
    else if (a == L"--store" && i + 1 < argc) store = argv[++i];
    else return Usage();
  }
  if (remove_all && watch) return Usage();
  if (watch <= 0) return RunOnce(store, remove_all);
  for (;;) {  // a logon task: failures are reported and retried
    RunOnce(store, false);
    Sleep(static_cast<DWORD>(watch) * 1000);
  }
}
