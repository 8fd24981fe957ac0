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
 * gets the reason, identity, client address and token fingerprint.  What
 * makes a token good for a role is decided in login_decision.cpp, which the
 * PostgreSQL 18 OAuth door (oauth_validator.cpp) shares.
 */
#include "pg/login/auth_hook.h"
#include "pg/common/guc.h"
#include "pg/common/stats.h"
#include "pg/login/login_decision.h"
#include "pg/login/privileged_roles.h"
#include "pg/login/role_labels.h"

extern "C" {
#include "libpq/auth.h"
#include "libpq/libpq.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/acl.h"
}

#include <sys/socket.h>

static ClientAuthentication_hook_type prev_client_auth_hook = nullptr;

/* Core limit for a PasswordMessage, as in auth.c. */
static constexpr int kMaxPasswordPacket = 65535;

[[noreturn]] static void reject(Port *port, const char *reason, const char *identity,
                                const char *fingerprint, const char *detail) {
    stats_count_login(false);
    ereport(FATAL,
            (errcode(ERRCODE_INVALID_PASSWORD),
             errmsg("password authentication failed for user \"%s\"", port->user_name),
             errdetail_log("%s", login_rejection_text(reason, detail, port->user_name, identity,
                                                      port->remote_host, fingerprint, nullptr))));
    pg_unreachable();
}

/*
 * Reads the answer to the password request.  Returns NULL when the client
 * closed the connection instead of answering (psql does this to prompt for
 * a password); *too_long is set for an oversized message.
 */
static char *read_password_packet(Port *port, bool *too_long) {
    *too_long = false;
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

static bool is_tcp(const Port *port) {
    return port->raddr.addr.ss_family != AF_UNIX;
}

static void dbx_oauth_client_authentication(Port *port, int status) {
    if (prev_client_auth_hook)
        prev_client_auth_hook(port, status);
    if (status != STATUS_OK || port->hba == nullptr || port->hba->auth_method != uaTrust)
        return;

    Oid roleid = get_role_oid(port->user_name, true);
    /* the group itself passes "+dbx_oauth_users" lines too, but no token can name it */
    if (OidIsValid(roleid) && roleid == oauth_users_role_oid())
        reject(port, "not_an_oauth_role", "", "", "(the dbx_oauth_users group itself)");
    if (!OidIsValid(roleid) || !role_is_oauth_member(roleid))
        return; /* not an OAuth role: trust means trust */
    if (const char *attribute = role_privileged_attribute(roleid))
        reject(port, "privileged_role", "", "", attribute);
    if (dbx_oauth_require_ssl && is_tcp(port) && !port->ssl_in_use)
        reject(port, "ssl_required", "", "", "(TCP connection without SSL)");

    /*
     * Ask for the token first, then read the role's label while the client
     * answers: the request is one round trip the login waits for anyway
     * (docs/architecture.md#keys-only-the-worker-touches-the-network).  The
     * checks above stay before it, so a privileged role or a TCP link
     * without SSL never gets a token sent.
     */
    sendAuthRequest(port, AUTH_REQ_PASSWORD, nullptr, 0);
    char *label = role_identity_label(roleid);
    if (label == nullptr)
        reject(port, "not_an_oauth_role", "", "", "(member of dbx_oauth_users without a dbx_oauth label)");

    bool too_long = false;
    char *password = read_password_packet(port, &too_long);
    if (password == nullptr && !too_long)
        proc_exit(0); /* client hung up to ask its user for a password */
    if (password == nullptr)
        reject(port, "token_too_large", "", "", "(password message over 65535 bytes)");
    if (password[0] == '\0')
        reject(port, "empty_token", "", "", nullptr);

    LoginDecision d;
    login_decide(password, roleid, port->user_name, label, nullptr, &d);
    memset(password, 0, strlen(password));
    if (!d.accepted || !login_decision_accept(&d, roleid, port->user_name, port->remote_host, nullptr))
        reject(port, d.reason, d.identity, d.fingerprint, d.detail);
}

void auth_hook_install(void) {
    prev_client_auth_hook = ClientAuthentication_hook;
    ClientAuthentication_hook = dbx_oauth_client_authentication;
}
