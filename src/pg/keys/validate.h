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
 * result.reason.  May throw std::bad_alloc.  keep_local = false leaves a
 * valid result out of this backend's own cache (the shared one still gets
 * it): a login backend validates its token once.
 */
BackendValidation validate_token_in_backend(std::string_view token, bool allow_refresh_wait,
                                            bool keep_local = true);

/*
 * Called once in the postmaster (shared memory set up, settings read):
 * prepares what every login backend would otherwise build or fault in
 * itself.  May throw (bad_alloc); run it inside cpp_call.
 */
void validation_prepare_for_backends();
/* The same, never throws: logs a failure (the postmaster's shmem startup). */
void validation_prepare_in_postmaster();

}  // namespace dbx_oauth::pg
