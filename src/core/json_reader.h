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

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_limits.h"

namespace dbx_oauth::core {

// Same contract as parse_json_strict(): reason ok, bad_json, duplicate_key
// or nesting_too_deep; detail never echoes the input.
JsonParseResult read_json_strict(std::string_view text, int max_depth = kDefaultMaxJsonDepth);

// The same reader without a document: for the token's header and payload,
// whose top-level members are all the validator reads.  It applies exactly
// the rules above to the whole text (every nested object is checked for
// duplicates, depth is bounded, every string is decoded and checked) but
// keeps only the top-level members and the elements of arrays that are
// their values, as views: no value is built, and a string without escapes
// is not even copied.
enum class JsonKind : std::uint8_t { null, boolean, string, integer, unsigned_integer, floating, object, array };

struct JsonValueView {
  JsonKind kind = JsonKind::null;
  bool boolean = false;
  // Numbers are classified as nlohmann does (json_reader.h): integer when
  // written with '-', unsigned_integer otherwise, floating when it has a
  // fraction or exponent or does not fit 64 bits.
  std::int64_t integer = 0;
  std::uint64_t unsigned_integer = 0;
  double floating = 0;
  std::string_view string;  // kind string: the decoded text
  // kind array, for a top-level member's value: its elements are
  // JsonObjectScan::elements[first, first + count).
  std::uint32_t first = 0, count = 0;
};

struct JsonMember {
  std::string_view name;  // decoded
  JsonValueView value;
};

struct JsonObjectScan {
  Reason reason = Reason::bad_json;  // as read_json_strict would report
  std::string detail;
  bool is_object = false;  // reason ok and the top-level value is an object
  std::vector<JsonMember> members;
  std::vector<JsonValueView> elements;
  // Decoded strings that had escapes; sized once, so views never move.
  std::string arena;
  // Scratch: member names of the objects being read.  A scan reused for
  // the next document keeps every buffer's capacity, so it allocates
  // nothing once warm.
  std::vector<std::string_view> names;

  // The top-level member of that name, nullptr when absent.
  const JsonValueView* find(std::string_view name) const;
};

// Scans text into out (views point into text and out.arena: both must
// outlive them).  Returns out.reason.
Reason scan_json_strict(std::string_view text, JsonObjectScan& out, int max_depth = kDefaultMaxJsonDepth);

}  // namespace dbx_oauth::core
