// The measurements: sign throughput/latency with N threads, C_GetSlotInfo
// cost, cold start in fresh child processes; and provisioning of the keys.
#pragma once

#include <string>
#include <vector>

#include "bench/module.h"

namespace vtoken::bench {

struct SignStats {
  double per_second = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0;
  long signatures = 0;
  std::string error;  // non-empty if the run failed
};

// Every thread opens its own session on `slot` (the user is already logged in
// through another session), then signs `data` with C_SignInit + C_Sign for
// `seconds`.
SignStats MeasureSign(Module& m, CK_SLOT_ID slot, CK_OBJECT_HANDLE key, CK_MECHANISM_TYPE mech,
                      const std::vector<unsigned char>& data, int threads, double seconds);

// Nanoseconds per C_GetSlotInfo call, averaged over `calls` calls.
double MeasureSlotInfoNs(Module& m, CK_SLOT_ID slot, long calls);

// Milliseconds from dlopen to the end of the first C_GetTokenInfo, each in a
// fresh child process (this program re-executed with --cold-child); median of
// `runs`. Negative if the children failed.
double MeasureColdStartMs(const std::string& self, const std::string& module, const std::string& label, int runs);
// The child side: prints the elapsed nanoseconds; returns the exit code.
int ColdChild(const std::string& module, const std::string& label);

// Creates a token labelled `label` on the free slot with the given PINs and
// generates the benchmark keys "bench-rsa2048" (RSA-2048) and "bench-p256".
void Provision(Module& m, const std::string& label, const std::string& so_pin, const std::string& pin);

inline constexpr const char* kRsaLabel = "bench-rsa2048";
inline constexpr const char* kEcLabel = "bench-p256";

}  // namespace vtoken::bench
