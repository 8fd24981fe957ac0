// Strict base64url (RFC 4648 §5) as JWS compact serialization requires.
//
// A token has exactly one valid spelling: no padding, no whitespace, no
// '+'/'/', and unused trailing bits must be zero.  Accepting variants would
// let two different strings carry the same signed bytes, which breaks
// token fingerprints, caches keyed by the token, and replay detection.
#pragma once
#include "core/no_postgres.h"

#include <optional>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

// Decodes canonical unpadded base64url; nullopt on any deviation
// (bad character, '=', length % 4 == 1, non-zero unused bits).
std::optional<std::string> base64url_decode(std::string_view text);

// The same into out, replacing its content and reusing its capacity (a
// caller that decodes token after token allocates nothing once warm).
// false on any deviation; out is then unspecified.
bool base64url_decode_into(std::string_view text, std::string& out);

// Encodes without padding.
std::string base64url_encode(std::string_view bytes);

}  // namespace dbx_oauth::core
