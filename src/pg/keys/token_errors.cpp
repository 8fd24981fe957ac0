/*
 * token_errors.cpp — validation failures as SQL errors and log details.
 */
#include "core/status.h"
#include "core/validator.h"

#include "pg/common/boundary.h"
#include "pg/keys/token_errors.h"

namespace dbx_oauth::pg {

void throw_token_error(const core::ValidationResult &result) {
    std::string message = std::string("invalid token: ") + core::reason_message(result.reason);
    std::string detail = std::string("Reason: ") + core::reason_name(result.reason) + ".";
    if (!result.detail.empty())
        detail += " " + result.detail + ".";
    throw SqlError(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, message, detail);
}

std::string token_log_detail(const core::ValidationResult &result, const std::string &fingerprint) {
    std::string out = std::string("reason=") + core::reason_name(result.reason);
    if (!result.detail.empty())
        out += " (" + result.detail + ")";
    out += " token_fingerprint=" + fingerprint;
    return out;
}

}  // namespace dbx_oauth::pg
