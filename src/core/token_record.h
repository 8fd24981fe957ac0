// A flat byte encoding of a VerifiedToken, so a validation result can be
// kept in shared memory and read back by another backend (the shared
// token cache, docs/architecture.md#keys-only-the-worker-touches-the-network).
//
// The bytes never contain the token itself, only what validation derived
// from it.  Decoding is strict: a truncated, padded or otherwise malformed
// record is refused as a whole, never partly applied.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>

#include "core/validator.h"

namespace dbx_oauth::core {

std::string encode_verified_token(const VerifiedToken& token);

// False (and out untouched) for anything encode_verified_token did not
// produce.  Never throws except std::bad_alloc.
bool decode_verified_token(std::string_view bytes, VerifiedToken& out);

}  // namespace dbx_oauth::core
