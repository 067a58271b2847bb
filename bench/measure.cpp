#include "bench/measure.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

namespace vtoken::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

}  // namespace

SignStats MeasureSign(Module& m, CK_SLOT_ID slot, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
                      const std::vector<unsigned char>& data, int threads, double seconds) {
  std::vector<std::vector<double>> latencies(threads);
  std::vector<std::string> errors(threads);
  std::atomic<bool> go{false};
  auto& p11 = m.p11();
  auto worker = [&](int t) {
    CK_SESSION_HANDLE s;
    if (CK_RV rv = p11.C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s); rv != CKR_OK) {
      errors[t] = "C_OpenSession " + std::to_string(rv);
      return;
    }
    std::vector<unsigned char> in = data, sig(1024);
    CK_MECHANISM mechanism{mech, nullptr, 0};
    latencies[t].reserve(200000);
    while (!go.load()) std::this_thread::yield();
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    for (auto now = Clock::now(); now < end;) {
      CK_ULONG len = sig.size();
      CK_RV rv = p11.C_SignInit(s, &mechanism, key);
      if (rv == CKR_OK) rv = p11.C_Sign(s, in.data(), in.size(), sig.data(), &len);
      const auto after = Clock::now();
      if (rv != CKR_OK) {
        errors[t] = "C_Sign " + std::to_string(rv);
        break;
      }
      latencies[t].push_back(std::chrono::duration<double, std::micro>(after - now).count());
      now = after;
    }
    p11.C_CloseSession(s);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  const auto start = Clock::now();
  go = true;
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  SignStats st;
  std::vector<double> all;
  for (int t = 0; t < threads; ++t) {
    all.insert(all.end(), latencies[t].begin(), latencies[t].end());
    if (!errors[t].empty()) st.error = errors[t];
  }
  st.signatures = static_cast<long>(all.size());
  st.per_second = all.size() / elapsed;
  st.p50_us = Percentile(all, 0.50);
  st.p90_us = Percentile(all, 0.90);
  st.p99_us = Percentile(all, 0.99);
  return st;
}

double MeasureSlotInfoNs(Module& m, CK_SLOT_ID slot, long calls) {
  CK_SLOT_INFO info;
  Check("C_GetSlotInfo", m.p11().C_GetSlotInfo(slot, &info));
  const auto start = Clock::now();
  for (long i = 0; i < calls; ++i) m.p11().C_GetSlotInfo(slot, &info);
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / calls;
}

int ColdChild(const std::string& module, const std::string& label) {
  const auto start = Clock::now();
  try {
    Module m(module);
    m.Initialize();
    CK_SLOT_ID slot = m.SlotByLabel(label);  // the first C_GetTokenInfo calls happen here
    CK_TOKEN_INFO info;
    Check("C_GetTokenInfo", m.p11().C_GetTokenInfo(slot, &info));
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
    std::printf("%lld\n", static_cast<long long>(ns));
    std::fflush(stdout);
    m.Finalize();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cold start child: %s\n", e.what());
    return 1;
  }
}

double MeasureColdStartMs(const std::string& self, const std::string& module, const std::string& label, int runs) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    int fds[2];
    if (::pipe(fds) != 0) return -1;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execl(self.c_str(), self.c_str(), "--cold-child", module.c_str(), label.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    char buf[64] = {};
    ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    ms.push_back(std::atof(buf) / 1e6);
  }
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? -1 : ms[ms.size() / 2];
}

}  // namespace vtoken::bench
