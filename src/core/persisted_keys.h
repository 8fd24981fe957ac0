// File format of the last good JWKS per issuer, kept under
// $PGDATA/dbx_oauth/ so a restarted server validates tokens while the
// issuer is unreachable.
//
//   {"format":1,"issuer":"https://host/oidc","fetched_at":1700000000,"jwks":{"keys":[...]}}
//
// The issuer is inside the file (the file name is only a hash of it), and
// decoding re-checks every key exactly like a fresh fetch.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "core/key_fetch.h"

namespace dbx_oauth::core {

inline constexpr int kPersistedKeysFormat = 1;

// The file name for an issuer: sha256 hex of the issuer + ".json".
std::string persisted_keys_file_name(std::string_view issuer);

// jwks_json must be a JSON object (a checked, compact JWKS).
std::string encode_persisted_keys(std::string_view issuer, std::string_view jwks_json,
                                  int64_t fetched_at_unix);

struct PersistedKeys {
  bool ok = false;
  JwksCheck jwks;            // compact_json and key_count, when ok
  int64_t fetched_at_unix = 0;
  std::string error;         // why the file is unusable; safe to log
};

// Decodes and checks a file's content for expected_issuer.
PersistedKeys decode_persisted_keys(std::string_view text, std::string_view expected_issuer,
                                    size_t max_jwks_bytes);

}  // namespace dbx_oauth::core
