// Google Benchmark for the pure C++ core (no PostgreSQL): the figures of
// docs/benchmarks.md that are measured below the SQL layer.
//
//   Validate/<alg>      full validation of a Databricks-shaped token (split,
//                       header and payload JSON, key selection, signature,
//                       claims), no cache: what a login or a cache miss costs
//   ValidateStage/<s>   one RS256 validation step alone, to show where
//                       Validate spends the time beyond VerifyOnly: split
//                       (size, segments, base64url of all three), header
//                       (strict JOSE header scan and checks), payload
//                       (strict scan of the claims), sha256 (the token
//                       digest behind the fingerprint and revocation key,
//                       hashed alone), prefix_sha256 (what Validate hashes
//                       for RS256: the signing input, whose digest the
//                       signature check verifies, and the token's digest
//                       finished from that state, core::Sha256Prefix)
//   CacheHit/<alg>      what a backend does for a token it validated before:
//                       TokenCache::find (SHA-256 of the token + hash lookup)
//                       and recheck_time
//   VerifyOnly/<alg>    the signature check alone (core verify_signature),
//                       to show how much of Validate is OpenSSL
//   ParseJwks           parse_jwks of the benchmark's 3-key JWKS (RSA, EC,
//                       Ed25519); ParseJwksFile/login: of the JWKS the
//                       bench cluster's login backends read.  A backend
//                       pays this once per key-store version, so a new
//                       backend (every login) pays it once

//   Policy3Level        one evaluation of a 3-level volume policy, path rules
//                       included (what volume_allows does per row in C++)
//   TrivialCall         a non-inlined call returning a bool: the per-call
//                       floor the policy figure is compared with
//
// Inputs come from $DBX_BENCH_DIR (written by bench/run): jwks.json,
// issuer, token-<alg>.txt.  `core_bench --memory` prints the heap bytes one
// token-cache entry costs (glibc mallinfo2) as JSON instead of timing.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/file_action.h"
#include "core/json_reader.h"
#include "core/sha256.h"
#include "core/jwk.h"
#include "core/jws.h"
#include "core/policy.h"
#include "core/signature.h"
#include "core/token_cache.h"
#include "core/validator.h"
#include "core/volume_path.h"

namespace core = dbx_oauth::core;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  std::string text = out.str();
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  return text;
}

struct Inputs {
  std::string issuer;
  std::string jwks_json;
  core::Jwks jwks;
  core::ValidationSettings settings;
  std::string token(const std::string& alg) const {
    return read_file(dir + "/token-" + alg + ".txt");
  }
  std::string dir;
};

const Inputs& inputs() {
  static const Inputs in = [] {
    Inputs i;
    const char* dir = std::getenv("DBX_BENCH_DIR");
    if (dir == nullptr)
      throw std::runtime_error("DBX_BENCH_DIR is not set (run bench/run)");
    i.dir = dir;
    i.issuer = read_file(i.dir + "/issuer");
    i.jwks_json = read_file(i.dir + "/jwks.json");
    core::JwksParseResult parsed = core::parse_jwks(i.jwks_json);
    if (!parsed.ok)
      throw std::runtime_error("bad jwks.json: " + parsed.error);
    i.jwks = std::move(parsed.jwks);
    i.settings.issuers = {i.issuer};
    return i;
  }();
  return in;
}

int64_t now_unix() { return static_cast<int64_t>(std::time(nullptr)); }

core::ValidationResult validate_once(const std::string& token) {
  const Inputs& in = inputs();
  core::KeyLookup lookup = [&in](const std::string& issuer) -> const core::Jwks* {
    return issuer == in.issuer ? &in.jwks : nullptr;
  };
  return core::validate_token(token, in.settings, lookup, now_unix());
}

void require_ok(benchmark::State& state, const core::ValidationResult& r) {
  if (!r.ok())
    state.SkipWithError(("token does not validate: " + r.detail).c_str());
}

void BM_Validate(benchmark::State& state, const char* alg) {
  const Inputs& in = inputs();
  const std::string token = in.token(alg);
  core::KeyLookup lookup = [&in](const std::string& issuer) -> const core::Jwks* {
    return issuer == in.issuer ? &in.jwks : nullptr;
  };
  require_ok(state, validate_once(token));
  const int64_t now = now_unix();
  for (auto _ : state) {
    core::ValidationResult r = core::validate_token(token, in.settings, lookup, now);
    benchmark::DoNotOptimize(r.reason);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CacheHit(benchmark::State& state, const char* alg) {
  const Inputs& in = inputs();
  const std::string token = in.token(alg);
  core::ValidationResult first = validate_once(token);
  require_ok(state, first);
  core::TokenCache cache(256);
  cache.insert(token, first.token, 1);
  const int64_t now = now_unix();
  for (auto _ : state) {
    const core::VerifiedToken* hit = cache.find(token, 1, now);
    core::Reason r = hit ? core::recheck_time(*hit, in.settings, now) : core::Reason::malformed;
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_VerifyOnly(benchmark::State& state, const char* alg) {
  const Inputs& in = inputs();
  const std::string token = in.token(alg);
  core::ValidationResult first = validate_once(token);
  require_ok(state, first);
  const size_t last_dot = token.rfind('.');
  const std::string signing_input = token.substr(0, last_dot);
  std::string signature;
  {
    // base64url-decode the signature segment (no padding).
    static const std::string alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    for (char c : token.substr(last_dot + 1)) {
      acc = (acc << 6) | static_cast<uint32_t>(alphabet.find(c));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        signature.push_back(static_cast<char>((acc >> bits) & 0xff));
      }
    }
  }
  const core::Jwk* key = nullptr;
  for (const core::Jwk& k : in.jwks.keys)
    if (k.kid == first.token.kid)
      key = &k;
  if (key == nullptr) {
    state.SkipWithError("key not found");
    return;
  }
  for (auto _ : state) {
    core::Reason r = core::verify_signature(first.token.alg, *key, signing_input, signature);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

enum class Stage { split, header, payload, sha256, prefix_sha256 };

void BM_ValidateStage(benchmark::State& state, Stage stage) {
  const Inputs& in = inputs();
  const std::string token = in.token("RS256");
  require_ok(state, validate_once(token));
  core::CompactJws jws;
  std::string detail;
  if (core::split_compact_jws(token, jws, detail) != core::Reason::ok) {
    state.SkipWithError("token does not split");
    return;
  }
  core::JsonObjectScan scan;
  core::CompactJws reused;
  core::Sha256Prefix hashing;
  const std::string_view whole(token);
  const std::string_view rest = whole.substr(jws.signing_input.size());
  for (auto _ : state) {
    switch (stage) {
      case Stage::split:
        // Into one reused CompactJws, as the validator does.
        benchmark::DoNotOptimize(core::split_compact_jws(token, reused, detail));
        break;
      case Stage::header: {
        core::JoseHeader header;
        benchmark::DoNotOptimize(
            core::parse_jose_header(jws.header_text, in.settings.allowed_algorithms, header, detail));
        break;
      }
      case Stage::payload: {
        benchmark::DoNotOptimize(core::scan_json_strict(jws.payload_text, scan));
        break;
      }
      case Stage::sha256:
        benchmark::DoNotOptimize(core::sha256(token));
        break;
      case Stage::prefix_sha256:
        benchmark::DoNotOptimize(hashing.begin(jws.signing_input));
        benchmark::DoNotOptimize(hashing.finish(rest));
        break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// check: trusted_source is what a backend does with the key store's text
// (once per key-store version, so once per login backend); full is what
// the worker and the jwks_file loader do before publishing.
void BM_ParseJwks(benchmark::State& state, core::KeyCheck check) {
  const Inputs& in = inputs();
  for (auto _ : state) {
    core::JwksParseResult r = core::parse_jwks(in.jwks_json, check);
    benchmark::DoNotOptimize(r.ok);
  }
  state.counters["keys"] = static_cast<double>(in.jwks.keys.size());
  state.SetItemsProcessed(state.iterations());
}

// The JWKS a login backend actually reads (the fake workspace's published
// keys); skipped when bench/run did not provide it.
void BM_ParseJwksFile(benchmark::State& state, const char* name, core::KeyCheck check) {
  std::string json;
  try {
    json = read_file(inputs().dir + "/" + name);
  } catch (const std::exception&) {
    state.SkipWithError("no such input");
    return;
  }
  size_t keys = 0;
  for (auto _ : state) {
    core::JwksParseResult r = core::parse_jwks(json, check);
    keys = r.jwks.keys.size();
    benchmark::DoNotOptimize(r.ok);
  }
  state.counters["keys"] = static_cast<double>(keys);
  state.SetItemsProcessed(state.iterations());
}

// The 3-level policy the SQL figure uses too (bench/sql/volume.sql).
constexpr const char* kPolicy3Level =
    R"({"any": [)"
    R"({"all": [{"actions": ["read", "list", "download"]}, {"pathPrefix": "public/"}]},)"
    R"({"all": [{"usersOnly": true}, {"ownerPrefix": true}]},)"
    R"({"userIn": ["admin@example.com"]}]})";

void BM_Policy3Level(benchmark::State& state) {
  core::PolicyParseResult parsed = core::parse_policy(kPolicy3Level);
  if (!parsed.ok()) {
    state.SkipWithError(("policy does not parse: " + parsed.error->to_string()).c_str());
    return;
  }
  const core::Policy& policy = *parsed.policy;
  const std::string root = "/Volumes/main/default/uploads";
  // Same path mix as the SQL table: public, own, someone else's.
  const std::vector<std::string> paths = {"public/report-17.csv", "alice@example.com/notes-17.txt",
                                          "bob@example.com/secret-17.txt"};
  core::PolicyUser user{"alice@example.com", false};
  std::string scratch;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& path = paths[i++ % paths.size()];
    std::string_view relative;
    core::PathStatus ps = core::relative_volume_path(root, path, &scratch, &relative);
    bool allowed = ps == core::PathStatus::ok &&
                   policy.evaluate(core::FileAction::read, core::FileResource{relative, "uploads", {}},
                                   user, nullptr);
    benchmark::DoNotOptimize(allowed);
  }
  state.SetItemsProcessed(state.iterations());
}

__attribute__((noinline)) bool trivial_call(const std::string& path) {
  benchmark::ClobberMemory();
  return !path.empty();
}

void BM_TrivialCall(benchmark::State& state) {
  const std::vector<std::string> paths = {"public/report-17.csv", "alice@example.com/notes-17.txt",
                                          "bob@example.com/secret-17.txt"};
  size_t i = 0;
  for (auto _ : state) {
    bool r = trivial_call(paths[i++ % paths.size()]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

// Heap bytes per token-cache entry, measured with mallinfo2 around filling a
// cache with N distinct entries holding a real validated token.
int print_memory() {
  const std::string token = inputs().token("RS256");
  core::ValidationResult r = validate_once(token);
  if (!r.ok()) {
    std::fprintf(stderr, "token does not validate: %s\n", r.detail.c_str());
    return 1;
  }
  constexpr size_t kEntries = 256;
  std::vector<std::string> keys;
  for (size_t i = 0; i < kEntries; i++)
    keys.push_back(token + std::to_string(i));  // only the SHA-256 of the key is stored
  struct mallinfo2 before = mallinfo2();
  auto* cache = new core::TokenCache(kEntries);
  for (const std::string& k : keys)
    cache->insert(k, r.token, 1);
  struct mallinfo2 after = mallinfo2();
  const double per_entry = static_cast<double>(after.uordblks - before.uordblks) / kEntries;
  std::printf(
      "{\"entries\": %zu, \"bytes_total\": %zu, \"bytes_per_entry\": %.1f, "
      "\"claims_json_bytes\": %zu, \"token_bytes\": %zu}\n",
      kEntries, static_cast<size_t>(after.uordblks - before.uordblks), per_entry,
      r.token.claims_json.size(), token.size());
  delete cache;
  return 0;
}

}  // namespace

// Each Validate case right before its VerifyOnly case: the two sides of a
// ratio are measured back to back, so a load change on a shared machine
// between them is as unlikely as it can be.
BENCHMARK_CAPTURE(BM_Validate, RS256, "RS256");
BENCHMARK_CAPTURE(BM_VerifyOnly, RS256, "RS256");
BENCHMARK_CAPTURE(BM_Validate, ES256, "ES256");
BENCHMARK_CAPTURE(BM_VerifyOnly, ES256, "ES256");
BENCHMARK_CAPTURE(BM_Validate, EdDSA, "EdDSA");
BENCHMARK_CAPTURE(BM_VerifyOnly, EdDSA, "EdDSA");
BENCHMARK_CAPTURE(BM_ValidateStage, split, Stage::split);
BENCHMARK_CAPTURE(BM_ValidateStage, header, Stage::header);
BENCHMARK_CAPTURE(BM_ValidateStage, payload, Stage::payload);
BENCHMARK_CAPTURE(BM_ValidateStage, sha256, Stage::sha256);
BENCHMARK_CAPTURE(BM_ValidateStage, prefix_sha256, Stage::prefix_sha256);
BENCHMARK_CAPTURE(BM_CacheHit, RS256, "RS256");
BENCHMARK_CAPTURE(BM_CacheHit, ES256, "ES256");
BENCHMARK_CAPTURE(BM_CacheHit, EdDSA, "EdDSA");
BENCHMARK_CAPTURE(BM_ParseJwks, backend, core::KeyCheck::trusted_source);
BENCHMARK_CAPTURE(BM_ParseJwksFile, login, "login_jwks.json", core::KeyCheck::trusted_source);
BENCHMARK_CAPTURE(BM_ParseJwksFile, worker, "login_jwks.json", core::KeyCheck::full);
BENCHMARK(BM_Policy3Level);
BENCHMARK(BM_TrivialCall);

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "--memory")
      return print_memory();
    inputs();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "core_bench: %s\n", e.what());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
