/*
 * login_decision.h — the one "token -> role" decision behind both login
 * doors: the password door (auth_hook.cpp, a token as the password on a
 * trust hba line) and, on PostgreSQL 18 and later, the native OAuth door
 * (oauth_validator.cpp, hba method oauth).
 *
 * A door reads the token in its own way and reacts to the outcome in its
 * own way (the password door ends the connection with the generic 28P01
 * message, the validator answers "not authorized"), but what makes a token
 * good for a role is decided here only: validation with keys from shared
 * memory, then the identity-to-role rules (USER and SERVICE_PRINCIPAL roles
 * by identity, GROUP roles by membership) and revocations.  The outcome is plain data, so
 * it survives the ereport() a door raises afterwards.  See
 * docs/security-model.md for the rules.
 */
#pragma once

#include "pg/lifecycle/session_registry.h" /* SESSION_IDENTITY_MAX, SESSION_FINGERPRINT_LEN */

extern "C" {
#include "postgres.h"
}

struct LoginDecision {
    bool accepted;
    bool internal_error;                           /* refused because something failed here */
    char reason[48];                               /* "ok" or a reason name for the log */
    char detail[256];                              /* safe to log: never token text */
    char identity[SESSION_IDENTITY_MAX];           /* the token's identity once valid */
    char identity_type[24];                        /* USER / SERVICE_PRINCIPAL */
    char fingerprint[SESSION_FINGERPRINT_LEN];     /* SHA-256 prefix, "" when none */
    bool has_iat;                                  /* the token's iat, for revocation cutoffs */
    int64 issued_at;
    char token_key[SESSION_TOKEN_KEY_MAX];         /* jti or fingerprint key, for revocation */
};

/*
 * Decides whether token may log in as role roleid (named role_name, whose
 * dbx_oauth label is label).  With label NULL only the token is validated
 * (the door leaves the role decision to PostgreSQL's ident map).  With
 * required_issuer set, a token of any other trusted issuer is refused as
 * untrusted_issuer.  An accepted token is staged as the session's login
 * identity; login_decision_accept() records it.  May ereport (catalog
 * access for group membership).
 */
void login_decide(const char *token, Oid roleid, const char *role_name, const char *label,
                  const char *required_issuer, LoginDecision *out);

/*
 * May a validated token's identity act as role roleid (named role_name,
 * labelled label)?  USER and SERVICE_PRINCIPAL roles: the identity is the
 * role (emails and UUIDs compare case-insensitively).  GROUP roles: the
 * identity is a member of the group.  Returns the refusal reason, or NULL.
 * The one rule behind both doors and set_token.  May ereport (catalog
 * access for group membership).
 */
const char *identity_role_refusal(Oid roleid, const char *role_name, const char *label,
                                  const char *identity, const char *identity_type);

/*
 * Records an accepted login: the session identity (current_identity(),
 * claims(), the sessions view), the login counter and the "token login
 * accepted" log line, with door appended when not NULL.  Returns false
 * (reason internal_error, detail filled) when the identity could not be
 * recorded; the door must then refuse the login.
 */
bool login_decision_accept(LoginDecision *d, Oid roleid, const char *role_name,
                           const char *client, const char *door);

/*
 * The log text of a refused login, "dbx_oauth: token login rejected:
 * reason=... role=... identity=... client=... token_fingerprint=...", with
 * door appended when not NULL; palloc'd.  Either door puts it in the log
 * (the password door as errdetail_log of its FATAL).
 */
char *login_rejection_text(const char *reason, const char *detail, const char *role_name,
                           const char *identity, const char *client, const char *fingerprint,
                           const char *door);
