// libFuzzer target: volume policy parser and evaluator, and the volume path
// rules.  The input is policy JSON; it is also used as a path.  Checks:
// parse gives exactly one of policy/error, evaluation is deterministic,
// {"not": P} is the negation of P, and accepted paths never escape the
// volume.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/file_action.h"
#include "core/policy.h"
#include "core/volume_path.h"
#include "fuzz_common.h"

using namespace dbx_oauth::core;

namespace {

// Deterministic answers for {"fn": ...} nodes; counts calls.
class StubFunctions : public PolicyFunctionCaller {
 public:
  int calls = 0;
  bool call(const std::string& function, FileAction action, const FileResource& resource,
            const PolicyUser& user) override {
    ++calls;
    return (function.size() + static_cast<int>(action) + resource.path.size() + user.id.size()) % 2 == 0;
  }
};

void check_path(std::string_view path) {
  static const std::string_view kRoot = "/Volumes/main/default/uploads";
  std::string scratch;
  std::string_view relative;
  const PathStatus s = relative_volume_path(kRoot, path, &scratch, &relative);
  if (s != PathStatus::ok) return;
  DBX_FUZZ_CHECK(!path.empty() && path.size() <= kMaxPathBytes);
  DBX_FUZZ_CHECK(relative.find('\0') == std::string_view::npos);
  // No ".." segment survives.
  std::size_t start = 0;
  while (start <= relative.size()) {
    std::size_t end = relative.find('/', start);
    if (end == std::string_view::npos) end = relative.size();
    DBX_FUZZ_CHECK(relative.substr(start, end - start) != "..");
    start = end + 1;
  }
  const std::string joined = join_volume_path(kRoot, relative);
  DBX_FUZZ_CHECK(joined.compare(0, kRoot.size(), kRoot) == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_path(text);

  const PolicyParseResult parsed = parse_policy(text);
  DBX_FUZZ_CHECK(parsed.policy.has_value() != parsed.error.has_value());
  if (!parsed.ok()) {
    DBX_FUZZ_CHECK(!parsed.error->location.empty());
    return 0;
  }
  const Policy& policy = *parsed.policy;
  const std::string negated_text = "{\"not\":" + std::string(text) + "}";
  const PolicyParseResult negated = parse_policy(negated_text);

  const PolicyUser users[] = {{"alice@example.com", false}, {"8a4f1c2e-1111-2222-3333-444455556666", true}, {"", false}};
  const FileResource resources[] = {{"x.txt", "uploads", std::nullopt},
                                    {"alice@example.com/a.txt", "uploads", std::int64_t{10}},
                                    {"public/big.bin", "uploads", std::int64_t{1} << 40},
                                    {"", "", std::int64_t{-1}}};
  for (int a = 0; a < kFileActionCount; ++a) {
    const FileAction action = static_cast<FileAction>(a);
    for (const PolicyUser& user : users) {
      for (const FileResource& resource : resources) {
        StubFunctions fns;
        const bool first = policy.evaluate(action, resource, user, &fns);
        StubFunctions fns2;
        DBX_FUZZ_CHECK(policy.evaluate(action, resource, user, &fns2) == first);
        DBX_FUZZ_CHECK(fns.calls == fns2.calls);
        if (negated.ok()) {
          StubFunctions fns3;
          DBX_FUZZ_CHECK(negated.policy->evaluate(action, resource, user, &fns3) == !first);
        }
      }
    }
  }

  PolicyCache cache(4);
  auto stored = cache.insert(text, policy);
  DBX_FUZZ_CHECK(stored != nullptr);
  DBX_FUZZ_CHECK(cache.find(text) == stored);
  return 0;
}
