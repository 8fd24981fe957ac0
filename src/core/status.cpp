// Names and messages for validation reasons (see status.h).
#include "core/status.h"

namespace dbx_oauth::core {

namespace {

struct ReasonText {
  Reason reason;
  const char* name;
  const char* message;
};

// One row per Reason, in enum order; static_asserts below check both, so a
// new enumerator cannot be added without its text.
constexpr ReasonText kReasonTexts[] = {
    {Reason::ok, "ok", "token is valid"},
    {Reason::malformed, "malformed", "token is not a well-formed JWS compact serialization"},
    {Reason::token_too_large, "token_too_large", "token is too large"},
    {Reason::bad_base64, "bad_base64", "token contains invalid base64url"},
    {Reason::bad_json, "bad_json", "token contains invalid JSON"},
    {Reason::duplicate_key, "duplicate_key", "token JSON contains a duplicate member name"},
    {Reason::nesting_too_deep, "nesting_too_deep", "token JSON is nested too deeply"},
    {Reason::unsupported_alg, "unsupported_alg", "token signing algorithm is not allowed"},
    {Reason::crit_header, "crit_header", "token has critical header parameters"},
    {Reason::bad_typ, "bad_typ", "token type is not a JWT access token"},
    {Reason::unknown_kid, "unknown_kid", "no signing key matches the token key id"},
    {Reason::ambiguous_kid, "ambiguous_kid", "token key id does not select exactly one signing key"},
    {Reason::key_alg_mismatch, "key_alg_mismatch", "signing key does not fit the token algorithm"},
    {Reason::bad_signature, "bad_signature", "token signature is invalid"},
    {Reason::untrusted_issuer, "untrusted_issuer", "token issuer is not trusted"},
    {Reason::audience_mismatch, "audience_mismatch", "token audience is not accepted"},
    {Reason::missing_exp, "missing_exp", "token has no expiration time"},
    {Reason::bad_claim_type, "bad_claim_type", "token claim has an invalid type or value"},
    {Reason::expired, "expired", "token has expired"},
    {Reason::not_yet_valid, "not_yet_valid", "token is not yet valid"},
    {Reason::issued_in_future, "issued_in_future", "token was issued in the future"},
    {Reason::lifetime_too_long, "lifetime_too_long", "token lifetime is too long"},
    {Reason::missing_scope, "missing_scope", "token lacks an accepted scope"},
    {Reason::missing_identity, "missing_identity", "token does not name a user or service principal"},
    {Reason::no_keys, "no_keys", "no signing keys are available for the token issuer"},
};

static_assert(sizeof(kReasonTexts) / sizeof(kReasonTexts[0]) == kReasonCount,
              "every Reason needs a name and a message");

constexpr bool rows_in_enum_order() {
  for (int i = 0; i < kReasonCount; ++i) {
    if (static_cast<int>(kReasonTexts[i].reason) != i) return false;
  }
  return true;
}
static_assert(rows_in_enum_order(), "kReasonTexts must follow the enum order");

const ReasonText* lookup(Reason reason) {
  const int index = static_cast<int>(reason);
  if (index < 0 || index >= kReasonCount) return nullptr;
  return &kReasonTexts[index];
}

}  // namespace

const char* reason_name(Reason reason) {
  const ReasonText* text = lookup(reason);
  return text ? text->name : "unknown";
}

const char* reason_message(Reason reason) {
  const ReasonText* text = lookup(reason);
  return text ? text->message : "unknown validation failure";
}

std::string sanitize_for_detail(std::string_view value, std::size_t max_chars) {
  std::string out;
  const std::size_t keep = value.size() > max_chars ? max_chars : value.size();
  out.reserve(keep + 3);
  for (std::size_t i = 0; i < keep; ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    const bool printable = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
    out.push_back(printable ? static_cast<char>(c) : '?');
  }
  if (keep < value.size()) out += "...";
  return out;
}

}  // namespace dbx_oauth::core
