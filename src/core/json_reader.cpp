// Strict one-pass JSON reader and scanner (see json_reader.h).
//
// Recursive descent; recursion depth is bounded by max_depth.  The lexical
// rules (strings, numbers, whitespace, depth) live in one Cursor that both
// the Reader (builds an nlohmann::json) and the Scanner (keeps views of the
// top-level members) use, so the two decide every input alike.  A member
// name is checked for a duplicate when it is read, before its value, as
// parse_json_strict() does, so all three report the same reason.
#include "core/json_reader.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <unordered_set>

namespace dbx_oauth::core {

namespace {

using nlohmann::json;

// A number as nlohmann classifies it (json_reader.h).
struct Number {
  JsonKind kind = JsonKind::unsigned_integer;
  std::int64_t integer = 0;
  std::uint64_t unsigned_integer = 0;
  double floating = 0;
};

class Cursor {
 public:
  Cursor(std::string_view text, int max_depth)
      : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

  Reason reason() const { return reason_; }
  std::string& detail() { return detail_; }

 protected:

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool fail(Reason reason, std::string detail) {
    reason_ = reason;
    detail_ = std::move(detail);
    return false;
  }
  // Never echo the input: only where it went wrong.
  bool bad_at() { return fail(Reason::bad_json, "invalid JSON at byte " + std::to_string(p_ - begin_)); }

  bool duplicate(std::size_t name_size) {
    // The member name comes from untrusted input; report only its length.
    return fail(Reason::duplicate_key, "duplicate JSON member name (" + std::to_string(name_size) + " bytes)");
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return bad_at();
    p_ += word.size();
    return true;
  }

  bool open(int depth) {
    if (depth > max_depth_) {
      return fail(Reason::nesting_too_deep, "JSON nesting exceeds " + std::to_string(max_depth_) + " levels");
    }
    ++p_;  // the bracket
    skip_ws();
    return true;
  }

  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Four hex digits after "\u"; p_ is at the 'u'.
  bool hex4(unsigned& out) {
    if (end_ - p_ < 5) return bad_at();
    out = 0;
    for (int i = 1; i <= 4; ++i) {
      const int d = hex_digit(p_[i]);
      if (d < 0) return bad_at();
      out = (out << 4) | static_cast<unsigned>(d);
    }
    p_ += 5;
    return true;
  }

  static void append_utf8(std::string& s, unsigned cp) {
    if (cp < 0x80) {
      s.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Length of the valid UTF-8 sequence at p (RFC 3629 table: no overlong
  // forms, no surrogates, nothing above U+10FFFF), 0 when invalid.
  std::size_t utf8_length(const char* p) const {
    const auto at = [&](std::size_t i) -> unsigned {
      return p + i < end_ ? static_cast<unsigned char>(p[i]) : 0x100;  // 0x100: past the end
    };
    const auto in = [](unsigned c, unsigned lo, unsigned hi) { return c >= lo && c <= hi; };
    const unsigned c0 = at(0);
    if (in(c0, 0xC2, 0xDF)) return in(at(1), 0x80, 0xBF) ? 2 : 0;
    if (c0 == 0xE0) return in(at(1), 0xA0, 0xBF) && in(at(2), 0x80, 0xBF) ? 3 : 0;
    if (in(c0, 0xE1, 0xEC) || in(c0, 0xEE, 0xEF)) return in(at(1), 0x80, 0xBF) && in(at(2), 0x80, 0xBF) ? 3 : 0;
    if (c0 == 0xED) return in(at(1), 0x80, 0x9F) && in(at(2), 0x80, 0xBF) ? 3 : 0;
    if (c0 == 0xF0) return in(at(1), 0x90, 0xBF) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4 : 0;
    if (in(c0, 0xF1, 0xF3)) return in(at(1), 0x80, 0xBF) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4 : 0;
    if (c0 == 0xF4) return in(at(1), 0x80, 0x8F) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4 : 0;
    return 0;
  }

  // p_ is at the opening quote; the decoded string is appended to out.
  bool string(std::string& out) {
    ++p_;
    for (;;) {
      // Copy the run of plain printable ASCII in one go.
      const char* run = p_;
      while (p_ != end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
        ++p_;
      }
      out.append(run, static_cast<std::size_t>(p_ - run));
      if (p_ == end_) return bad_at();
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return bad_at();  // control characters must be escaped
      if (c >= 0x80) {
        const std::size_t n = utf8_length(p_);
        if (n == 0) return bad_at();
        out.append(p_, n);
        p_ += n;
        continue;
      }
      // A backslash.
      ++p_;
      if (p_ == end_) return bad_at();
      switch (*p_) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          unsigned cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return bad_at();  // a lone low surrogate
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate must be followed by an escaped low one.
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return bad_at();
            ++p_;
            unsigned low = 0;
            if (!hex4(low)) return false;
            if (low < 0xDC00 || low > 0xDFFF) return bad_at();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          continue;  // hex4 moved past the escape
        }
        default:
          return bad_at();
      }
      ++p_;
    }
  }

  // The string at p_ (opening quote) as a view: into the text when it has
  // no escapes (valid raw UTF-8 decodes to itself), else decoded into
  // arena.  arena is reserved to the whole text's size on first use: the
  // decoded form of any string is never longer than its escaped form, so
  // arena never reallocates and earlier views stay valid.
  bool string_ref(std::string& arena, std::string_view& out) {
    const char* quote = p_;
    const char* q = p_ + 1;
    for (;;) {
      while (q != end_) {
        const auto c = static_cast<unsigned char>(*q);
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
        ++q;
      }
      if (q == end_ || *q == '\\' || static_cast<unsigned char>(*q) < 0x20) break;
      if (*q == '"') {
        out = std::string_view(quote + 1, static_cast<std::size_t>(q - quote - 1));
        p_ = q + 1;
        return true;
      }
      const std::size_t n = utf8_length(q);
      if (n == 0) break;
      q += n;
    }
    // An escape or an error: the full decoder reports errors at the right byte.
    if (arena.capacity() < static_cast<std::size_t>(end_ - begin_)) {
      if (!arena.empty()) return fail(Reason::bad_json, "invalid JSON value");  // cannot happen
      arena.reserve(static_cast<std::size_t>(end_ - begin_));
    }
    const std::size_t start = arena.size();
    if (!string(arena)) return false;
    out = std::string_view(arena.data() + start, arena.size() - start);
    return true;
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // RFC 8259 number grammar; classified as nlohmann does: an integer
  // (no fraction, no exponent) is int64 when negative, uint64 otherwise,
  // and a double when it does not fit; a double that overflows is refused.
  bool number(Number& out) {
    const char* start = p_;
    bool negative = false;
    if (p_ != end_ && *p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ == end_ || !digit(*p_)) return bad_at();
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || !digit(*p_)) return bad_at();
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !digit(*p_)) return bad_at();
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (integer) {
      // The grammar above already holds, so from_chars reads all of it
      // unless the value does not fit 64 bits.
      if (negative) {
        std::int64_t v = 0;
        if (std::from_chars(start, p_, v).ec == std::errc()) {
          out.kind = JsonKind::integer;
          out.integer = v;
          return true;
        }
      } else {
        std::uint64_t v = 0;
        if (std::from_chars(start, p_, v).ec == std::errc()) {
          out.kind = JsonKind::unsigned_integer;
          out.unsigned_integer = v;
          return true;
        }
      }
    }
    // strtod needs a terminated copy; such numbers are rare in tokens.
    const std::string text(start, static_cast<std::size_t>(p_ - start));
    const double v = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(v)) return fail(Reason::bad_json, "invalid JSON value");
    out.kind = JsonKind::floating;
    out.floating = v;
    return true;
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  int max_depth_;
  Reason reason_ = Reason::ok;
  std::string detail_;
};

// Builds the nlohmann::json value: a member's slot is inserted when its
// name is read, which is also the duplicate check.
class Reader : public Cursor {
 public:
  using Cursor::Cursor;

  bool document(json& out) {
    skip_ws();
    if (!value(out, 0)) return false;
    skip_ws();
    if (p_ != end_) return bad_at();
    return true;
  }

 private:
  bool value(json& out, int depth) {
    if (p_ == end_) return bad_at();
    switch (*p_) {
      case '{':
        return object(out, depth + 1);
      case '[':
        return array(out, depth + 1);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = std::move(s);
        return true;
      }
      case 't':
        out = true;
        return literal("true");
      case 'f':
        out = false;
        return literal("false");
      case 'n':
        out = nullptr;
        return literal("null");
      default: {
        Number n;
        if (!number(n)) return false;
        if (n.kind == JsonKind::integer) {
          out = static_cast<json::number_integer_t>(n.integer);
        } else if (n.kind == JsonKind::unsigned_integer) {
          out = static_cast<json::number_unsigned_t>(n.unsigned_integer);
        } else {
          out = n.floating;
        }
        return true;
      }
    }
  }

  bool object(json& out, int depth) {
    if (!open(depth)) return false;
    out = json::object();
    auto& members = out.get_ref<json::object_t&>();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    for (;;) {
      if (p_ == end_ || *p_ != '"') return bad_at();
      std::string name;
      if (!string(name)) return false;
      const std::size_t name_size = name.size();
      auto [slot, inserted] = members.try_emplace(std::move(name));
      if (!inserted) return duplicate(name_size);
      skip_ws();
      if (p_ == end_ || *p_ != ':') return bad_at();
      ++p_;
      skip_ws();
      if (!value(slot->second, depth)) return false;
      skip_ws();
      if (p_ == end_) return bad_at();
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      if (*p_ != ',') return bad_at();
      ++p_;
      skip_ws();
    }
  }

  bool array(json& out, int depth) {
    if (!open(depth)) return false;
    out = json::array();
    auto& elements = out.get_ref<json::array_t&>();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      elements.emplace_back();
      if (!value(elements.back(), depth)) return false;
      skip_ws();
      if (p_ == end_) return bad_at();
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      if (*p_ != ',') return bad_at();
      ++p_;
      skip_ws();
    }
  }
};

// Keeps views of the top-level members (and of the elements of arrays that
// are their values); everything deeper is only checked.
class Scanner : public Cursor {
 public:
  Scanner(std::string_view text, int max_depth, JsonObjectScan& out) : Cursor(text, max_depth), out_(out) {}

  bool document() {
    skip_ws();
    JsonValueView root;
    if (!value(root, 0, Keep::members)) return false;
    skip_ws();
    if (p_ != end_) return bad_at();
    out_.is_object = root.kind == JsonKind::object;
    return true;
  }

 private:
  // What a container keeps: the top-level object its members, their array
  // values their elements, anything else nothing.
  enum class Keep { members, elements, nothing };

  // Objects with more members than this check duplicates with a hash set
  // rather than by comparing with each earlier name.
  static constexpr std::size_t kLinearNames = 16;

  bool value(JsonValueView& out, int depth, Keep keep) {
    if (p_ == end_) return bad_at();
    switch (*p_) {
      case '{':
        out.kind = JsonKind::object;
        return object(depth + 1, keep == Keep::members);
      case '[':
        out.kind = JsonKind::array;
        return array(out, depth + 1, keep == Keep::elements);
      case '"':
        out.kind = JsonKind::string;
        return string_ref(out_.arena, out.string);
      case 't':
        out.kind = JsonKind::boolean;
        out.boolean = true;
        return literal("true");
      case 'f':
        out.kind = JsonKind::boolean;
        out.boolean = false;
        return literal("false");
      case 'n':
        out.kind = JsonKind::null;
        return literal("null");
      default: {
        Number n;
        if (!number(n)) return false;
        out.kind = n.kind;
        out.integer = n.integer;
        out.unsigned_integer = n.unsigned_integer;
        out.floating = n.floating;
        return true;
      }
    }
  }

  bool object(int depth, bool keep_members) {
    if (!open(depth)) return false;
    // This object's names are out_.names[first, end); nested objects push
    // theirs after and pop them when they close.
    const std::size_t first = out_.names.size();
    std::unordered_set<std::string_view> many;
    const auto close = [&] {
      ++p_;
      out_.names.resize(first);
      return true;
    };
    if (p_ != end_ && *p_ == '}') return close();
    for (;;) {
      if (p_ == end_ || *p_ != '"') return bad_at();
      std::string_view name;
      if (!string_ref(out_.arena, name)) return false;
      const std::size_t count = out_.names.size() - first;
      if (count < kLinearNames) {
        for (std::size_t i = first; i < out_.names.size(); ++i)
          if (out_.names[i] == name) return duplicate(name.size());
      } else {
        if (many.empty()) many.insert(out_.names.begin() + static_cast<std::ptrdiff_t>(first), out_.names.end());
        if (!many.insert(name).second) return duplicate(name.size());
      }
      out_.names.push_back(name);
      skip_ws();
      if (p_ == end_ || *p_ != ':') return bad_at();
      ++p_;
      skip_ws();
      JsonValueView member;
      if (!value(member, depth, keep_members ? Keep::elements : Keep::nothing)) return false;
      if (keep_members) out_.members.push_back(JsonMember{name, member});
      skip_ws();
      if (p_ == end_) return bad_at();
      if (*p_ == '}') return close();
      if (*p_ != ',') return bad_at();
      ++p_;
      skip_ws();
    }
  }

  bool array(JsonValueView& out, int depth, bool keep_elements) {
    if (!open(depth)) return false;
    out.first = static_cast<std::uint32_t>(out_.elements.size());
    out.count = 0;
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    for (;;) {
      JsonValueView element;
      if (!value(element, depth, Keep::nothing)) return false;
      if (keep_elements) {
        out_.elements.push_back(element);
        ++out.count;
      }
      skip_ws();
      if (p_ == end_) return bad_at();
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      if (*p_ != ',') return bad_at();
      ++p_;
      skip_ws();
    }
  }

  JsonObjectScan& out_;
};

}  // namespace

JsonParseResult read_json_strict(std::string_view text, int max_depth) {
  JsonParseResult result;
  if (refuse_utf8_bom(text, result)) return result;
  Reader reader(text, max_depth);
  if (reader.document(result.value)) {
    result.reason = Reason::ok;
    return result;
  }
  result.reason = reader.reason();
  result.detail = std::move(reader.detail());
  result.value = json();
  return result;
}

const JsonValueView* JsonObjectScan::find(std::string_view name) const {
  for (const JsonMember& member : members)
    if (member.name == name) return &member.value;
  return nullptr;
}

Reason scan_json_strict(std::string_view text, JsonObjectScan& out, int max_depth) {
  out.reason = Reason::bad_json;
  out.detail.clear();
  out.is_object = false;
  out.members.clear();
  out.elements.clear();
  out.arena.clear();
  out.names.clear();
  JsonParseResult bom;
  if (refuse_utf8_bom(text, bom)) {
    out.detail = std::move(bom.detail);
    return out.reason = bom.reason;
  }
  Scanner scanner(text, max_depth, out);
  if (scanner.document()) return out.reason = Reason::ok;
  out.detail = std::move(scanner.detail());
  out.members.clear();
  out.elements.clear();
  out.is_object = false;
  return out.reason = scanner.reason();
}

}  // namespace dbx_oauth::core
