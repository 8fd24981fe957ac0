/*
 * utility_hook.h — statements that end a set_token switch.
 */
#pragma once

void utility_hook_install(void);
