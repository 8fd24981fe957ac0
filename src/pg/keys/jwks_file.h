/*
 * jwks_file.h — loads dbx_oauth.jwks_file into the key store's file slot.
 */
#pragma once

/*
 * Reads and checks the file and publishes it (or clears the slot when the
 * setting is empty).  Problems are reported at elevel (never ERROR or
 * above: a bad file must not stop the server); returns false on a problem.
 */
bool load_jwks_file_into_store(int elevel);
