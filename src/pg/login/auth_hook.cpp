/*
 * auth_hook.cpp — ClientAuthentication_hook: OAuth roles must present a token.
 *
 * On a trust hba line PostgreSQL has already accepted the connection when
 * the hook runs; for every role that is a member of dbx_oauth_users the hook
 * then asks for a password (AuthenticationCleartextPassword), validates it as
 * a Databricks OAuth access token with keys from shared memory only, checks
 * that the token's identity may use the requested role, and ends the
 * connection with the generic 28P01 message otherwise.  Roles that are not
 * OAuth roles pass through untouched.
 *
 * The client sees only "password authentication failed"; the server log
 * gets the reason, identity, client address and token fingerprint.
 */
#include "core/identity.h"
#include "core/sha256.h"
#include "core/status.h"
#include "core/validator.h"

#include "pg/login/auth_hook.h"
#include "pg/common/boundary.h"
#include "pg/groups/group_membership.h"
#include "pg/common/guc.h"
#include "pg/login/role_labels.h"
#include "pg/session/session_identity.h"
#include "pg/common/stats.h"
#include "pg/keys/token_errors.h"
#include "pg/keys/validate.h"
#include "pg/lifecycle/session_registry.h"
#include "pg/revocation/revocation.h"

extern "C" {
#include "libpq/auth.h"
#include "libpq/libpq.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/acl.h"
}

#include <sys/socket.h>

using namespace dbx_oauth;
using namespace dbx_oauth::pg;

static ClientAuthentication_hook_type prev_client_auth_hook = nullptr;

/* Core limit for a PasswordMessage, as in auth.c. */
static constexpr int kMaxPasswordPacket = 65535;

namespace {

/* Outcome of the C++ part, as plain data that survives ereport. */
struct TokenOutcome {
    bool valid = false;
    char reason[48] = {0};
    char detail[256] = {0};
    char identity[SESSION_IDENTITY_MAX] = {0};
    char identity_type[24] = {0};
    char fingerprint[SESSION_FINGERPRINT_LEN] = {0};
    bool has_iat = false;
    int64 issued_at = 0;
    char token_key[SESSION_TOKEN_KEY_MAX] = {0};
};

}  // namespace

[[noreturn]] static void reject(Port *port, const char *reason, const char *identity,
                                const char *fingerprint, const char *detail) {
    stats_count_login(false);
    ereport(FATAL,
            (errcode(ERRCODE_INVALID_PASSWORD),
             errmsg("password authentication failed for user \"%s\"", port->user_name),
             errdetail_log("dbx_oauth: token login rejected: reason=%s%s%s role=\"%s\" "
                           "identity=\"%s\" client=%s token_fingerprint=%s",
                           reason, detail && detail[0] ? " " : "", detail ? detail : "",
                           port->user_name, identity ? identity : "", port->remote_host ? port->remote_host : "",
                           fingerprint && fingerprint[0] ? fingerprint : "none")));
    pg_unreachable();
}

/*
 * Asks for and reads the password.  Returns NULL when the client closed the
 * connection instead of answering (psql does this to prompt for a password);
 * *too_long is set for an oversized message.
 */
static char *read_password_packet(Port *port, bool *too_long) {
    *too_long = false;
    sendAuthRequest(port, AUTH_REQ_PASSWORD, nullptr, 0);

    pq_startmsgread();
    int mtype = pq_getbyte();
    if (mtype == EOF)
        return nullptr;
    if (mtype != 'p') {
        ereport(FATAL, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("expected password response, got message type %d", mtype)));
    }
    StringInfoData buf;
    initStringInfo(&buf);
    if (pq_getmessage(&buf, kMaxPasswordPacket) != 0) {
        *too_long = true;
        return nullptr;
    }
    if (strlen(buf.data) + 1 != static_cast<size_t>(buf.len))
        ereport(FATAL, (errcode(ERRCODE_PROTOCOL_VIOLATION),
                        errmsg("invalid password packet size")));
    return buf.data;
}

static TokenOutcome validate_password_as_token(const char *password) {
    TokenOutcome out;
    PgError err;
    if (!cpp_call(&err, [&] {
            std::string_view token(password);
            strlcpy(out.fingerprint, core::token_fingerprint(token).c_str(), sizeof out.fingerprint);
            BackendValidation v = validate_token_in_backend(token, true);
            strlcpy(out.reason, core::reason_name(v.result.reason), sizeof out.reason);
            strlcpy(out.detail, v.result.detail.c_str(), sizeof out.detail);
            if (!v.result.ok())
                return;
            out.valid = true;
            strlcpy(out.identity, v.result.token.identity.c_str(), sizeof out.identity);
            strlcpy(out.identity_type, core::identity_type_name(v.result.token.identity_type),
                    sizeof out.identity_type);
            out.has_iat = v.result.token.issued_at.has_value();
            out.issued_at = v.result.token.issued_at.value_or(0);
            strlcpy(out.token_key, v.result.token.revocation_key.c_str(), sizeof out.token_key);
            session_identity_stage_login(v.result.token);
        })) {
        strlcpy(out.reason, "internal_error", sizeof out.reason);
        strlcpy(out.detail, err.message, sizeof out.detail);
        out.valid = false;
    }
    return out;
}

/*
 * May the token's identity use the requested role?  USER and
 * SERVICE_PRINCIPAL roles: the identity is the role (emails compare
 * case-insensitively).  GROUP roles: the identity is a member of the group.
 */
static const char *identity_mismatch(Oid roleid, const char *label, const TokenOutcome &t,
                                     const char *role_name) {
    if (strcmp(label, "GROUP") == 0) {
        return group_membership_refusal(role_name, roleid, t.identity, strcmp(t.identity_type, "USER") == 0);
    }
    if (strcmp(label, t.identity_type) != 0)
        return "identity_type_mismatch";
    /* emails and UUIDs both compare case-insensitively */
    return pg_strcasecmp(t.identity, role_name) == 0 ? nullptr : "identity_mismatch";
}

static bool is_tcp(const Port *port) {
    return port->raddr.addr.ss_family != AF_UNIX;
}

static void dbx_oauth_client_authentication(Port *port, int status) {
    if (prev_client_auth_hook)
        prev_client_auth_hook(port, status);
    if (status != STATUS_OK || port->hba == nullptr || port->hba->auth_method != uaTrust)
        return;

    Oid roleid = get_role_oid(port->user_name, true);
    if (!OidIsValid(roleid) || !role_is_oauth_member(roleid))
        return; /* not an OAuth role: trust means trust */

    char *label = role_identity_label(roleid);
    if (label == nullptr)
        reject(port, "not_an_oauth_role", "", "", "(member of dbx_oauth_users without a dbx_oauth label)");
    if (dbx_oauth_require_ssl && is_tcp(port) && !port->ssl_in_use)
        reject(port, "ssl_required", "", "", "(TCP connection without SSL)");

    bool too_long = false;
    char *password = read_password_packet(port, &too_long);
    if (password == nullptr && !too_long)
        proc_exit(0); /* client hung up to ask its user for a password */
    if (password == nullptr)
        reject(port, "token_too_large", "", "", "(password message over 65535 bytes)");
    if (password[0] == '\0')
        reject(port, "empty_token", "", "", nullptr);

    TokenOutcome t = validate_password_as_token(password);
    memset(password, 0, strlen(password));
    if (!t.valid)
        reject(port, t.reason, "", t.fingerprint, t.detail);

    if (const char *why = identity_mismatch(roleid, label, t, port->user_name))
        reject(port, why, t.identity, t.fingerprint, nullptr);

    const char *revoked = nullptr;
    RevocationVerdict rv = revocation_check(t.identity, t.has_iat, t.issued_at, t.token_key, &revoked);
    if (rv != REVOCATION_OK)
        reject(port, rv == REVOCATION_REVOKED ? "revoked" : "revocations_unavailable", t.identity, t.fingerprint,
               revoked);

    PgError err;
    if (!cpp_call(&err, [&] { session_identity_commit_login(roleid, port->user_name); }))
        reject(port, "internal_error", t.identity, t.fingerprint, err.message);
    session_registry_set_login_token(t.has_iat, t.issued_at, t.token_key);

    stats_count_login(true);
    ereport(LOG, (errmsg("dbx_oauth: token login accepted: role=\"%s\" identity=\"%s\" type=%s "
                         "client=%s token_fingerprint=%s",
                         port->user_name, t.identity, t.identity_type,
                         port->remote_host ? port->remote_host : "", t.fingerprint)));
}

void auth_hook_install(void) {
    prev_client_auth_hook = ClientAuthentication_hook;
    ClientAuthentication_hook = dbx_oauth_client_authentication;
}
