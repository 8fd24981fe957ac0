/*
 * worker_http.h — HTTP options shared by the workers that talk to the
 * workspace (key refresh, identity sync).
 */
#pragma once

#include "core/http_client.h"

#include <cstddef>

/*
 * Options from the dbx_oauth.* settings (CA file, insecure http, timeout),
 * 3 https-only redirects, and an abort on SIGTERM so a shutdown never waits
 * for a slow issuer.
 */
dbx_oauth::core::HttpOptions worker_http_options(std::size_t max_body_bytes);
