#pragma once

#include <string>

namespace vtoken::conformance {

// Compares two runs scenario by scenario and step by step. A scenario whose
// steps differ passes only if expected_file lists it (glob on the scenario
// name, followed by "|" and a reason). Prints each difference and the line
// "conformance: N scenarios, N passed, N failed"; returns 0, or 1 on any
// unlisted difference, 2 on bad input.
int Compare(const std::string& a_path, const std::string& b_path, const std::string& expected_file,
            bool verbose);

}  // namespace vtoken::conformance
