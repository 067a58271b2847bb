#pragma once

#include <string>

namespace vtoken::conformance {

// Compares two runs scenario by scenario and step by step. A scenario whose
// steps differ passes only if expected_file lists it (glob on the scenario
// name, followed by "|" and a reason). Prints each difference and the line
// "conformance: N scenarios, N passed, N failed"; returns 0, or 1 on any
// unlisted difference, 2 on bad input. required_file (optional) lists steps
// run B must have recorded ("scenario ; step ; CKR_x ; result"): it pins
// down vtoken's own behaviour where a difference from A is expected.
int Compare(const std::string& a_path, const std::string& b_path, const std::string& expected_file,
            const std::string& required_file, bool verbose);

}  // namespace vtoken::conformance
