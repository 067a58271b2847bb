// vtoken-conformance: plays the scenarios against one PKCS#11 module, or
// compares two recorded runs.
//   vtoken-conformance --module PATH [--label-prefix X] [--json out.json]
//                      [--filter REGEX] [--skip NAME]... [--verbose] [--timeout SECONDS]
//   vtoken-conformance --compare A.json B.json [--expected-differences FILE] [--required-b FILE]
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>

#include "conformance/compare.h"
#include "conformance/harness.h"

namespace vtoken::conformance {
namespace {

// The scenario running now, for the crash and hang handlers.
char g_current[256] = "module load";

void WriteStderr(const char* a, const char* b, const char* c) {
  for (const char* s : {a, b, c}) {
    ssize_t ignored = ::write(2, s, std::strlen(s));
    (void)ignored;
  }
}

void OnCrash(int sig) {
  WriteStderr("vtoken-conformance: FATAL: the module crashed (", strsignal(sig), ") in scenario ");
  WriteStderr(g_current, "\n", "");
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void OnHang(int) {
  WriteStderr("vtoken-conformance: FATAL: the module hung in scenario ", g_current, "\n");
  ::_exit(3);
}

void SetCurrent(const std::string& name) {
  std::snprintf(g_current, sizeof g_current, "%s", name.c_str());
}

nlohmann::json ToJson(const ScenarioResult& r) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : r.steps) steps.push_back({{"step", s.name}, {"rv", s.rv}, {"result", s.result}});
  return {{"name", r.name}, {"outcome", r.outcome}, {"steps", steps}};
}

void Print(const ScenarioResult& r, bool verbose) {
  std::printf("%-58s %s\n", r.name.c_str(), r.outcome.c_str());
  if (!verbose) return;
  for (const auto& s : r.steps)
    std::printf("    %-44s %-36s %s\n", s.name.c_str(), s.rv.c_str(), s.result.c_str());
}

int RunModule(const std::string& path, RunConfig& config, const std::string& json_out, const std::string& filter,
              const std::vector<std::string>& skip, bool verbose, unsigned timeout) {
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) ::signal(sig, OnCrash);
  ::signal(SIGALRM, OnHang);
  ::signal(SIGPIPE, SIG_IGN);
  ::alarm(timeout);
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::fprintf(stderr, "vtoken-conformance: cannot load %s: %s\n", path.c_str(), ::dlerror());
    return 2;
  }
  auto get_list = reinterpret_cast<CK_RV (*)(CK_FUNCTION_LIST**)>(::dlsym(lib, "C_GetFunctionList"));
  CK_FUNCTION_LIST* p11 = nullptr;
  if (!get_list || get_list(&p11) != CKR_OK || !p11) {
    std::fprintf(stderr, "vtoken-conformance: %s has no usable C_GetFunctionList\n", path.c_str());
    return 2;
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  SetCurrent("C_Initialize");
  if (CK_RV rv = p11->C_Initialize(&args); rv != CKR_OK) {
    std::fprintf(stderr, "vtoken-conformance: C_Initialize: %s\n", CkrName(rv).c_str());
    return 2;
  }

  std::vector<ScenarioResult> results;
  ScenarioResult setup{"fixture/setup", "", {}};
  SetCurrent(setup.name);
  SetUpFixture(p11, config, setup);
  Print(setup, verbose);
  results.push_back(setup);

  const std::regex re(filter.empty() ? ".*" : filter);
  int aborted = 0;
  for (const Scenario& sc : AllScenarios()) {
    if (!std::regex_search(sc.name, re)) continue;
    ScenarioResult r{sc.name, "", {}};
    if (std::find(skip.begin(), skip.end(), sc.name) != skip.end()) {
      r.outcome = "crashed or hung the module in an earlier run (skipped)";
      Print(r, verbose);
      results.push_back(std::move(r));
      continue;
    }
    SetCurrent(sc.name);
    ::alarm(timeout);
    Context ctx(p11, config, r);
    r.outcome = RunOne(sc, ctx);
    for (auto [slot, _] : ctx.touched_slots) p11->C_CloseAllSessions(slot);
    if (r.outcome.starts_with("aborted")) ++aborted;
    Print(r, verbose);
    results.push_back(std::move(r));
  }
  ::alarm(timeout);
  SetCurrent("C_Finalize");
  p11->C_Finalize(nullptr);
  ::alarm(0);

  std::printf("%s: %zu scenarios run (%d aborted early, see outcomes)\n", path.c_str(), results.size() - 1, aborted);
  if (!json_out.empty()) {
    nlohmann::json doc = {{"module", path}, {"scenarios", nlohmann::json::array()}};
    for (const auto& r : results) doc["scenarios"].push_back(ToJson(r));
    std::ofstream(json_out) << doc.dump(1) << "\n";
  }
  return 0;
}

int Usage() {
  std::fprintf(stderr,
               "usage: vtoken-conformance --module PATH [--label-prefix X] [--json OUT] [--filter REGEX]\n"
               "                          [--skip SCENARIO]... [--verbose] [--timeout SECONDS]\n"
               "       vtoken-conformance --compare A.json B.json [--expected-differences FILE] [--required-b FILE]\n");
  return 2;
}

}  // namespace
}  // namespace vtoken::conformance

int main(int argc, char** argv) {
  using namespace vtoken::conformance;
  std::string module, json_out, filter, compare_a, compare_b, expected, required;
  std::vector<std::string> skip;
  RunConfig config;
  bool verbose = false;
  unsigned timeout = 120;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--module") module = next();
      else if (a == "--label-prefix") config.label_prefix = next();
      else if (a == "--json") json_out = next();
      else if (a == "--filter") filter = next();
      else if (a == "--skip") skip.push_back(next());
      else if (a == "--timeout") timeout = std::stoul(next());
      else if (a == "--verbose" || a == "-v") verbose = true;
      else if (a == "--compare") compare_a = next(), compare_b = next();
      else if (a == "--expected-differences") expected = next();
      else if (a == "--required-b") required = next();
      else return Usage();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vtoken-conformance: %s\n", e.what());
      return Usage();
    }
  }
  if (config.label_prefix.size() > 12) {
    std::fprintf(stderr, "vtoken-conformance: --label-prefix is limited to 12 characters\n");
    return 2;
  }
  if (!compare_a.empty()) return Compare(compare_a, compare_b, expected, required, verbose);
  if (module.empty()) return Usage();
  return RunModule(module, config, json_out, filter, skip, verbose, timeout);
}
