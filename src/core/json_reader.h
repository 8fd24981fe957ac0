// A small strict JSON reader for the token's header and payload.
//
// It accepts exactly what parse_json_strict() (json_limits.h) accepts and
// builds the same nlohmann::json value, but reads the text in one pass
// without nlohmann's lexer, which copies every byte into two buffers
// (value and error context) and builds each value twice.  On the cold
// validation path that parse is most of the cost beyond the signature
// check itself (docs/benchmarks.md).
//
// Rules (RFC 8259, strict): one value, surrounded only by JSON whitespace;
// no byte order mark; strings are valid UTF-8 (no overlong forms, no
// surrogates encoded in UTF-8, nothing above U+10FFFF) with no raw control
// characters; \u escapes pair surrogates correctly; numbers follow the
// grammar, integers keep their signedness as nlohmann does (int64 when
// negative, uint64 otherwise, a double when out of range) and a number
// that overflows a double is refused; nesting is bounded; a member name
// repeated in any object is refused (duplicate_key).
#pragma once
#include "core/no_postgres.h"

#include <string_view>

#include "core/json_limits.h"

namespace dbx_oauth::core {

// Same contract as parse_json_strict(): reason ok, bad_json, duplicate_key
// or nesting_too_deep; detail never echoes the input.
JsonParseResult read_json_strict(std::string_view text, int max_depth = kDefaultMaxJsonDepth);

}  // namespace dbx_oauth::core
