/*
 * oauth_validator.h — the PostgreSQL 18 OAuth door (hba method oauth with
 * oauth_validator_libraries = 'dbx_oauth'); see oauth_validator.cpp.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

/*
 * Installs the authentication hook that records accepted OAuth-door logins
 * (from _PG_init, after the password door's).  Does nothing before
 * PostgreSQL 18, which has no OAuth door.
 */
void oauth_door_install(void);
