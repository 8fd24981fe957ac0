// Strict JSON parsing (see json_limits.h).
//
// nlohmann::json's parser is iterative and accepts a callback for every
// structural event; the callback tracks depth and the member names seen in
// each open object, and aborts the parse by throwing as soon as a limit is
// crossed, so oversized structures are never fully built.
#include "core/json_limits.h"

#include <set>
#include <vector>

namespace dbx_oauth::core {

namespace {

using nlohmann::json;

// Thrown from the parser callback to abort; never escapes this file.
struct LimitExceeded {
  Reason reason;
  std::string detail;
};

class StrictnessChecker {
 public:
  explicit StrictnessChecker(int max_depth) : max_depth_(max_depth) {}

  bool on_event(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        enter();
        open_objects_.emplace_back();
        break;
      case json::parse_event_t::array_start:
        enter();
        break;
      case json::parse_event_t::object_end:
        open_objects_.pop_back();
        --depth_;
        break;
      case json::parse_event_t::array_end:
        --depth_;
        break;
      case json::parse_event_t::key:
        check_key(parsed);
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;  // keep every value; we only veto by throwing
  }

 private:
  void enter() {
    if (++depth_ > max_depth_) {
      throw LimitExceeded{Reason::nesting_too_deep,
                          "JSON nesting exceeds " + std::to_string(max_depth_) + " levels"};
    }
  }

  void check_key(const json& key) {
    // The key event always arrives inside an open object.
    const std::string& name = key.get_ref<const std::string&>();
    if (!open_objects_.back().insert(name).second) {
      // The member name comes from untrusted input; report only its length.
      throw LimitExceeded{Reason::duplicate_key,
                          "duplicate JSON member name (" + std::to_string(name.size()) + " bytes)"};
    }
  }

  int max_depth_;
  int depth_ = 0;
  std::vector<std::set<std::string>> open_objects_;
};

}  // namespace

JsonParseResult parse_json_strict(std::string_view text, int max_depth) {
  JsonParseResult result;
  StrictnessChecker checker(max_depth);
  json::parser_callback_t callback = [&checker](int depth, json::parse_event_t event, json& parsed) {
    return checker.on_event(depth, event, parsed);
  };
  try {
    result.value = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                               /*ignore_comments=*/false);
    result.reason = Reason::ok;
  } catch (const LimitExceeded& limit) {
    result.reason = limit.reason;
    result.detail = limit.detail;
    result.value = json();
  } catch (const json::parse_error& error) {
    // error.what() quotes the input near the failure: keep only the offset.
    result.reason = Reason::bad_json;
    result.detail = "invalid JSON at byte " + std::to_string(error.byte);
    result.value = json();
  } catch (const json::exception&) {
    // e.g. out_of_range for a number such as 1e999; again no input echoed.
    result.reason = Reason::bad_json;
    result.detail = "invalid JSON value";
    result.value = json();
  }
  return result;
}

}  // namespace dbx_oauth::core
