/*
 * auth_hook.h — token-as-password authentication on trust hba lines.
 */
#pragma once

void auth_hook_install(void);
