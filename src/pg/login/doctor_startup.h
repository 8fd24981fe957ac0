/*
 * doctor_startup.h — the one-shot startup check: after recovery a
 * short-lived background worker runs dbx_oauth.doctor() in
 * dbx_oauth.database and logs a WARNING for every error-level finding.
 */
#pragma once

void doctor_startup_register(void);
