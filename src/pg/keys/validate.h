/*
 * validate.h — token validation in a backend: the core validator fed with
 * the current settings and the keys from shared memory, behind the
 * per-backend validated-token cache.  Used by the login hook, set_token and
 * the SQL validation functions alike, so all apply the same rules.
 */
#pragma once

#include "core/validator.h"

#include <string_view>

namespace dbx_oauth::pg {

struct BackendValidation {
    core::ValidationResult result;
    bool from_cache = false;
};

/*
 * Validates a token.  On an unknown kid it asks the worker for a refresh
 * and retries once (bounded by dbx_oauth.unknown_kid_wait) when
 * allow_refresh_wait is set.  Never throws for token problems: they are in
 * result.reason.  May throw std::bad_alloc.
 */
BackendValidation validate_token_in_backend(std::string_view token, bool allow_refresh_wait);

}  // namespace dbx_oauth::pg
