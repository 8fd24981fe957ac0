// HTTP requests that carry credentials, for the identity-sync worker:
// POST of a form with an Authorization header (client-credentials grant)
// and GET with a Bearer token (SCIM).
//
// INTERIM: core/http_client.h (owned elsewhere) only does credential-less
// GETs.  This file applies the same URL policy (check_url_policy,
// https-only unless allow_insecure_http for loopback), the same CA file,
// timeouts and body cap, and in addition follows NO redirects, so a
// credential is only ever sent to the URL it was meant for.  It should move
// into http_client once that grows a method/header/body option.
//
// The Authorization value is never logged or put in an error text; error
// texts name the URL through redact_url().
#pragma once
#include "core/no_postgres.h"

#include <string>

#include "core/http_client.h"

namespace dbx_oauth::core {

// POST application/x-www-form-urlencoded `body` with the given
// Authorization header value ("Basic ...").
HttpResponse http_post_form(const std::string& url, const std::string& body, const std::string& authorization,
                            const HttpOptions& options);

// GET with "Authorization: Bearer <token>".
HttpResponse http_get_bearer(const std::string& url, const std::string& token, const HttpOptions& options);

}  // namespace dbx_oauth::core
