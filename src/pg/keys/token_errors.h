/*
 * token_errors.h — the one table mapping core validation reasons to SQL
 * errors (SQLSTATE 28000, message naming the reason) and log details.
 */
#pragma once

#include "core/validator.h"

#include <string>

namespace dbx_oauth::pg {

/* Throws SqlError(28000) for a failed validation; never includes token text. */
[[noreturn]] void throw_token_error(const core::ValidationResult &result);

/* "reason=expired fingerprint=ab12... kid=..." for the server log. */
std::string token_log_detail(const core::ValidationResult &result, const std::string &fingerprint);

}  // namespace dbx_oauth::pg
