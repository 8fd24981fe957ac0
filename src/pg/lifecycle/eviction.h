/*
 * eviction.h — ending OAuth sessions that expired, idled, aged, or hold
 * slots the server needs (docs/operator-guide.md, session lifecycle: expired_session_action,
 * idle_session_timeout, max_session_age, evict_idle_above).
 *
 * Only sessions that logged in with a token are ever touched.  The backend
 * is marked with the reason first, then sent SIGTERM, so it can tell its
 * client why (see eviction_install_message_hook).
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
}

/* One pass of every rule; returns how many sessions were terminated. */
int eviction_scan(TimestampTz now);

/* Terminates idle OAuth sessions idle for longer than idle_for_ms (on demand). */
int eviction_evict_idle(int64 idle_for_ms);

/* Rewrites this backend's FATAL termination message to say why it was evicted. */
void eviction_install_message_hook(void);
