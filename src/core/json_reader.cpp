// Strict one-pass JSON reader (see json_reader.h).
//
// Recursive descent; recursion depth is bounded by max_depth.  Each value is
// built in place: a member's slot is inserted when its name is read, which
// is also the duplicate check, so a repeated name is reported before its
// value is read, as parse_json_strict() does.
#include "core/json_reader.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

namespace dbx_oauth::core {

namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(std::string_view text, int max_depth)
      : p_(text.data()), begin_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

  bool document(json& out) {
    skip_ws();
    if (!value(out, 0)) return false;
    skip_ws();
    if (p_ != end_) return bad_at();
    return true;
  }

  Reason reason() const { return reason_; }
  std::string& detail() { return detail_; }

 private:
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
        return literal("true", out, json(true));
      case 'f':
        return literal("false", out, json(false));
      case 'n':
        return literal("null", out, json(nullptr));
      default:
        return number(out);
    }
  }

  bool literal(std::string_view word, json& out, json&& v) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word)
      return bad_at();
    p_ += word.size();
    out = std::move(v);
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
      if (!inserted) {
        // The member name comes from untrusted input; report only its length.
        return fail(Reason::duplicate_key, "duplicate JSON member name (" + std::to_string(name_size) + " bytes)");
      }
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

  // p_ is at the opening quote.
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

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // RFC 8259 number grammar; classified as nlohmann does: an integer
  // (no fraction, no exponent) is int64 when negative, uint64 otherwise,
  // and a double when it does not fit; a double that overflows is refused.
  bool number(json& out) {
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
    // strto* need a terminated copy; token numbers are short.
    const std::string text(start, static_cast<std::size_t>(p_ - start));
    char* stop = nullptr;
    if (integer) {
      errno = 0;
      if (negative) {
        const long long v = std::strtoll(text.c_str(), &stop, 10);
        if (errno == 0) {
          out = static_cast<json::number_integer_t>(v);
          return true;
        }
      } else {
        const unsigned long long v = std::strtoull(text.c_str(), &stop, 10);
        if (errno == 0) {
          out = static_cast<json::number_unsigned_t>(v);
          return true;
        }
      }
    }
    const double v = std::strtod(text.c_str(), &stop);
    if (!std::isfinite(v)) return fail(Reason::bad_json, "invalid JSON value");
    out = v;
    return true;
  }

  const char* p_;
  const char* begin_;
  const char* end_;
  int max_depth_;
  Reason reason_ = Reason::ok;
  std::string detail_;
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

}  // namespace dbx_oauth::core
