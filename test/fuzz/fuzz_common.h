// Shared helpers for the libFuzzer targets in test/fuzz (not part of the
// extension).  Targets link src/core alone, like the unit tests.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace dbx_oauth::fuzz {

// A crash libFuzzer reports with the input that caused it.  Used for
// invariants the code under test must keep (not only for memory errors).
[[noreturn]] inline void invariant_failed(const char* what) {
  std::fprintf(stderr, "dbx_oauth fuzz invariant violated: %s\n", what);
  std::abort();
}

#define DBX_FUZZ_CHECK(cond)                                          \
  do {                                                                \
    if (!(cond)) ::dbx_oauth::fuzz::invariant_failed(#cond);          \
  } while (0)

// Reads a whole file; empty when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Directory of the fuzz sources (for the fixed JWKS), from the run script.
inline std::string fuzz_dir() {
  const char* dir = std::getenv("DBX_FUZZ_DIR");
  return dir ? dir : "test/fuzz";
}

}  // namespace dbx_oauth::fuzz
