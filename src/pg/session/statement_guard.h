/*
 * statement_guard.h — refuses statements run under a set_token identity
 * whose token has expired (expired_session_action = terminate).
 */
#pragma once

void statement_guard_install(void);
