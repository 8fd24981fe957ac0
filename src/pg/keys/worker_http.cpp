/*
 * worker_http.cpp — see worker_http.h.
 */
#include "pg/keys/worker_http.h"

#include "pg/common/guc.h"

extern "C" {
#include "postmaster/interrupt.h"
}

dbx_oauth::core::HttpOptions worker_http_options(std::size_t max_body_bytes) {
    dbx_oauth::core::HttpOptions o;
    o.ca_file = dbx_oauth_ca_file ? dbx_oauth_ca_file : "";
    o.allow_insecure_http = dbx_oauth_allow_insecure_http;
    o.timeout_ms = dbx_oauth_http_timeout;
    o.max_body_bytes = max_body_bytes;
    o.max_redirects = 3;
    o.should_abort = [] { return ShutdownRequestPending != 0; };
    return o;
}
