// Strict JSON parsing (see json_limits.h).
//
// nlohmann::json's SAX interface drives a small DOM builder of our own, so
// the checks happen while the document is built: a duplicate member name is
// found by looking it up in the object being filled (no side table), and
// depth is counted at each container start.  The first violation stops the
// parse, so oversized structures are never fully built.
#include "core/json_limits.h"

#include <vector>

namespace dbx_oauth::core {

namespace {

using nlohmann::json;

// A UTF-8 byte order mark.  nlohmann skips one silently; PostgreSQL's json
// and jsonb do not, and RFC 8259 §8.1 forbids sending one, so it is refused
// here rather than passed on to SQL inside claims().
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

class StrictDomBuilder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  StrictDomBuilder(json& root, int max_depth) : root_(root), max_depth_(max_depth) {}

  bool null() { return add(json(nullptr)); }
  bool boolean(bool value) { return add(json(value)); }
  bool number_integer(number_integer_t value) { return add(json(value)); }
  bool number_unsigned(number_unsigned_t value) { return add(json(value)); }
  bool number_float(number_float_t value, const string_t& /*text*/) { return add(json(value)); }
  bool string(string_t& value) { return add(json(std::move(value))); }
  bool binary(binary_t& /*value*/) { return fail(Reason::bad_json, "invalid JSON value"); }

  bool start_object(std::size_t /*elements*/) { return open(json::object()); }
  bool start_array(std::size_t /*elements*/) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(string_t& name) {
    // A key event always arrives inside an open object.
    if (open_.back()->contains(name)) {
      // The member name comes from untrusted input; report only its length.
      return fail(Reason::duplicate_key,
                  "duplicate JSON member name (" + std::to_string(name.size()) + " bytes)");
    }
    key_ = std::move(name);
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& error) {
    // Never echo the input: parse errors (ids 1xx) report the byte offset,
    // anything else (e.g. 406, a number such as 1e999) only that it is bad.
    if (error.id >= 100 && error.id < 200)
      return fail(Reason::bad_json, "invalid JSON at byte " + std::to_string(position));
    return fail(Reason::bad_json, "invalid JSON value");
  }

  Reason reason() const { return reason_; }
  const std::string& detail() const { return detail_; }

 private:
  // Places a finished value in the open container (or at the root) and
  // returns where it now lives.
  json* place(json&& value) {
    if (open_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      parent.get_ref<json::array_t&>().push_back(std::move(value));
      return &parent.get_ref<json::array_t&>().back();
    }
    auto inserted = parent.get_ref<json::object_t&>().emplace(std::move(key_), std::move(value));
    return &inserted.first->second;
  }

  bool add(json&& value) {
    place(std::move(value));
    return true;
  }

  bool open(json&& container) {
    if (static_cast<int>(open_.size()) >= max_depth_) {
      return fail(Reason::nesting_too_deep,
                  "JSON nesting exceeds " + std::to_string(max_depth_) + " levels");
    }
    // Pointers to open containers stay valid: only the innermost open
    // container gains elements, and it is never an element of itself.
    open_.push_back(place(std::move(container)));
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  bool fail(Reason reason, std::string detail) {
    if (reason_ == Reason::ok) {  // keep the first violation
      reason_ = reason;
      detail_ = std::move(detail);
    }
    return false;
  }

  json& root_;
  int max_depth_;
  std::vector<json*> open_;
  std::string key_;
  Reason reason_ = Reason::ok;
  std::string detail_;
};

}  // namespace

bool refuse_utf8_bom(std::string_view text, JsonParseResult& result) {
  if (text.substr(0, kUtf8Bom.size()) != kUtf8Bom) return false;
  result.reason = Reason::bad_json;
  result.detail = "JSON text starts with a byte order mark";
  return true;
}

JsonParseResult parse_json_strict(std::string_view text, int max_depth) {
  JsonParseResult result;
  if (refuse_utf8_bom(text, result)) return result;
  StrictDomBuilder builder(result.value, max_depth);
  bool parsed = false;
  try {
    parsed = json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json,
                             /*strict=*/true, /*ignore_comments=*/false);
  } catch (const json::exception&) {
    // sax_parse reports through parse_error(); this is only a safety net.
    parsed = false;
  }
  if (parsed && builder.reason() == Reason::ok) {
    result.reason = Reason::ok;
    return result;
  }
  result.reason = builder.reason() == Reason::ok ? Reason::bad_json : builder.reason();
  result.detail = builder.reason() == Reason::ok ? "invalid JSON value" : builder.detail();
  result.value = json();
  return result;
}

}  // namespace dbx_oauth::core
