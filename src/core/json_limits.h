// Strict JSON parsing for untrusted input (token header/payload, JWKS).
//
// RFC 7515 §5.2 requires rejecting duplicate member names in the JOSE
// header, and different parsers resolve duplicates differently (first vs
// last wins), which is a classic way to make a verifier and an application
// disagree about a claim.  We reject duplicates in every object at every
// depth, and bound nesting so hostile input cannot build deep structures.
#pragma once
#include "core/no_postgres.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "core/status.h"

namespace dbx_oauth::core {

inline constexpr int kDefaultMaxJsonDepth = 16;

struct JsonParseResult {
  Reason reason = Reason::bad_json;  // ok, bad_json, duplicate_key or nesting_too_deep
  nlohmann::json value;              // discarded unless reason == ok
  std::string detail;                // safe to log: never echoes the input text
};

// Parses exactly one JSON value (RFC 8259, valid UTF-8, no comments, no
// trailing content).  A top-level object or array is depth 1; any value
// nested deeper than max_depth fails with nesting_too_deep.
JsonParseResult parse_json_strict(std::string_view text, int max_depth = kDefaultMaxJsonDepth);

// RFC 8259 forbids a byte order mark before JSON text: true (and result set
// to bad_json with its detail) when text starts with one.  Both strict
// parsers refuse it the same way.
bool refuse_utf8_bom(std::string_view text, JsonParseResult& result);

}  // namespace dbx_oauth::core
