/*
 * session_worker.h — the background worker that applies the eviction rules.
 */
#pragma once

void session_worker_register(void);
