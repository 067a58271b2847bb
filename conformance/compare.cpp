#include "conformance/compare.h"

#include <fnmatch.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <nlohmann/json.hpp>
#include <vector>

namespace vtoken::conformance {
namespace {

struct Expected {
  std::string pattern, reason;
  int line = 0;
  int used = 0;
};

std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Calls `line_fn(line, number)` for every line of `path` that is not blank or
// a '#' comment, trimmed; stops with false when the file cannot be read or
// line_fn refuses a line (it prints why).
template <class F>
bool ForEachLine(const std::string& path, F&& line_fn) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (!line_fn(line, n)) return false;
  }
  return true;
}

bool LoadExpected(const std::string& path, std::vector<Expected>& out) {
  if (path.empty()) return true;
  return ForEachLine(path, [&](const std::string& line, int n) {
    const auto bar = line.find('|');
    Expected e{Trim(line.substr(0, bar)), bar == std::string::npos ? "" : Trim(line.substr(bar + 1)), n};
    if (e.pattern.empty() || e.reason.empty()) {
      std::fprintf(stderr, "%s:%d: each expected difference needs 'SCENARIO-GLOB | reason'\n", path.c_str(), n);
      return false;
    }
    out.push_back(e);
    return true;
  });
}

// "scenario ; step ; CKR_x ; result": what run B must have recorded where A
// legitimately differs (vtoken's lockout, which SoftHSMv2 lacks).
struct Required {
  std::string scenario, step, rv, result;
  int line = 0;
};

bool LoadRequired(const std::string& path, std::vector<Required>& out) {
  return ForEachLine(path, [&](const std::string& line, int n) {
    std::vector<std::string> f;
    for (std::size_t start = 0;;) {
      const auto semi = line.find(';', start);
      f.push_back(Trim(line.substr(start, semi == std::string::npos ? std::string::npos : semi - start)));
      if (semi == std::string::npos) break;
      start = semi + 1;
    }
    if (f.size() != 4 || f[0].empty() || f[1].empty() || f[2].empty()) {
      std::fprintf(stderr, "%s:%d: expected 'scenario ; step ; CKR_x ; result'\n", path.c_str(), n);
      return false;
    }
    out.push_back({f[0], f[1], f[2], f[3], n});
    return true;
  });
}

bool Load(const std::string& path, nlohmann::json& doc) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return false;
  }
  try {
    doc = nlohmann::json::parse(in);
    return doc.contains("scenarios");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), e.what());
    return false;
  }
}

std::string StepText(const nlohmann::json& s) {
  std::string t = s.value("rv", "") + " " + s.value("result", "");
  return s.value("step", "") + ": " + t;
}

// Where two runs of one scenario part (the first few differing steps), as
// text; empty if equal.
std::string FirstDifference(const nlohmann::json& a, const nlohmann::json& b) {
  const auto& sa = a["steps"];
  const auto& sb = b["steps"];
  std::string out;
  int shown = 0;
  for (std::size_t i = 0; i < std::max(sa.size(), sb.size()); ++i) {
    std::string ta = i < sa.size() ? StepText(sa[i]) : "(no step)";
    std::string tb = i < sb.size() ? StepText(sb[i]) : "(no step)";
    if (ta == tb) continue;
    if (++shown > 8) {
      out += "\n    (more)";
      break;
    }
    out += (out.empty() ? "step " : "\n    step ") + std::to_string(i + 1) + "\n      A: " + ta + "\n      B: " + tb;
  }
  if (!out.empty()) return out;
  if (a.value("outcome", "") != b.value("outcome", ""))
    return "outcome\n      A: " + a.value("outcome", "") + "\n      B: " + b.value("outcome", "");
  return {};
}

}  // namespace

int Compare(const std::string& a_path, const std::string& b_path, const std::string& expected_file,
            const std::string& required_file, bool verbose) {
  nlohmann::json a, b;
  std::vector<Expected> expected;
  std::vector<Required> required;
  if (!Load(a_path, a) || !Load(b_path, b) || !LoadExpected(expected_file, expected)) return 2;
  if (!required_file.empty() && !LoadRequired(required_file, required)) return 2;
  std::printf("A = %s (%s)\nB = %s (%s)\n", a_path.c_str(), a.value("module", "?").c_str(), b_path.c_str(),
              b.value("module", "?").c_str());

  std::vector<std::string> order;
  std::map<std::string, nlohmann::json> in_a, in_b;
  for (const auto& s : a["scenarios"]) {
    order.push_back(s["name"]);
    in_a[s["name"]] = s;
  }
  for (const auto& s : b["scenarios"]) {
    if (!in_a.count(s["name"])) order.push_back(s["name"]);
    in_b[s["name"]] = s;
  }
  const nlohmann::json missing = {{"outcome", "not run"}, {"steps", nlohmann::json::array()}};
  int passed = 0, failed = 0, listed = 0;
  std::set<std::string> failed_names;
  for (const auto& name : order) {
    const auto& sa = in_a.count(name) ? in_a[name] : missing;
    const auto& sb = in_b.count(name) ? in_b[name] : missing;
    std::string diff = FirstDifference(sa, sb);
    if (diff.empty()) {
      ++passed;
      if (verbose) std::printf("same     %s\n", name.c_str());
      continue;
    }
    Expected* hit = nullptr;
    for (auto& e : expected)
      if (::fnmatch(e.pattern.c_str(), name.c_str(), 0) == 0) {
        hit = &e;
        break;
      }
    if (hit) {
      ++hit->used;
      ++passed;
      ++listed;
      std::printf("EXPECTED %s — %s\n", name.c_str(), hit->reason.c_str());
      if (verbose) std::printf("    at %s\n", diff.c_str());
    } else {
      ++failed;
      failed_names.insert(name);
      std::printf("DIFFERS  %s at %s\n", name.c_str(), diff.c_str());
    }
  }
  std::map<std::string, int> broken;  // scenario -> unmet requirements in run B
  for (const auto& r : required) {
    bool met = false;
    if (in_b.count(r.scenario))
      for (const auto& st : in_b[r.scenario]["steps"])
        met = met || (st.value("step", "") == r.step && st.value("rv", "") == r.rv && st.value("result", "") == r.result);
    if (!met) {
      ++broken[r.scenario];
      std::printf("REQUIRED %s: B lacks '%s: %s %s' (%s:%d)\n", r.scenario.c_str(), r.step.c_str(), r.rv.c_str(),
                  r.result.c_str(), required_file.c_str(), r.line);
    }
  }
  for (const auto& [name, n] : broken) {
    (void)n;
    if (failed_names.count(name) || !in_b.count(name)) continue;  // already counted as failed
    ++failed;
    --passed;
  }
  for (const auto& e : expected)
    if (!e.used && !expected_file.empty())
      std::printf("note: %s:%d '%s' matched no difference in this comparison\n", expected_file.c_str(), e.line,
                  e.pattern.c_str());
  std::printf("conformance: %zu scenarios, %d passed, %d failed (%d of the passed are listed expected differences)\n",
              order.size(), passed, failed, listed);
  return failed == 0 ? 0 : 1;
}

}  // namespace vtoken::conformance
