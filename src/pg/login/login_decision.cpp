/*
 * login_decision.cpp — may this token log in as this role?  Shared by the
 * password door and the PostgreSQL 18 OAuth door (login_decision.h).
 */
#include "core/identity.h"
#include "core/sha256.h"
#include "core/status.h"
#include "core/validator.h"

#include "pg/login/login_decision.h"
#include "pg/common/boundary.h"
#include "pg/common/compat.h"
#include "pg/common/stats.h"
#include "pg/groups/group_membership.h"
#include "pg/keys/validate.h"
#include "pg/revocation/revocation.h"
#include "pg/session/session_identity.h"

extern "C" {
#include "lib/stringinfo.h"
}

#include <string>

using namespace dbx_oauth;
using namespace dbx_oauth::pg;

static void set_reason(LoginDecision *out, const char *reason, const char *detail) {
    out->accepted = false;
    strlcpy(out->reason, reason, sizeof out->reason);
    strlcpy(out->detail, detail ? detail : "", sizeof out->detail);
}

/*
 * The issuer a pg_hba.conf oauth line names may be the issuer itself or its
 * discovery document (".../.well-known/..."); either way its issuer is the
 * part before "/.well-known/", without a trailing slash.
 */
static bool same_issuer(const std::string &token_issuer, const char *line_issuer) {
    std::string want(line_issuer);
    size_t well_known = want.find("/.well-known/");
    if (well_known != std::string::npos)
        want.resize(well_known);
    auto trim = [](std::string s) {
        while (!s.empty() && s.back() == '/')
            s.pop_back();
        return s;
    };
    return trim(token_issuer) == trim(want);
}

/*
 * Validates the token with the backend's validator (keys from shared
 * memory only) and stages it as the login identity.  C++ throughout: runs
 * inside cpp_call, calls nothing that ereports.
 */
static void validate_into(const char *token, const char *required_issuer, LoginDecision *out) {
    std::string_view tok(token);
    strlcpy(out->fingerprint, core::token_fingerprint(tok).c_str(), sizeof out->fingerprint);
    /* a login backend sees its token once: the shared cache keeps it, and
     * copying it into the local cache would write to pages the backend
     * would otherwise never touch (docs/architecture.md#keys-only-the-worker-touches-the-network) */
    BackendValidation v = validate_token_in_backend(tok, true, false);
    strlcpy(out->reason, core::reason_name(v.result.reason), sizeof out->reason);
    strlcpy(out->detail, v.result.detail.c_str(), sizeof out->detail);
    if (!v.result.ok())
        return;
    if (required_issuer != nullptr && !same_issuer(v.result.token.issuer, required_issuer)) {
        std::string detail = "(issuer \"" + core::sanitize_for_detail(v.result.token.issuer, 120) +
                             "\" is not the issuer of the pg_hba.conf line)";
        set_reason(out, core::reason_name(core::Reason::untrusted_issuer), detail.c_str());
        return;
    }
    out->accepted = true;
    strlcpy(out->identity, v.result.token.identity.c_str(), sizeof out->identity);
    strlcpy(out->identity_type, core::identity_type_name(v.result.token.identity_type),
            sizeof out->identity_type);
    out->has_iat = v.result.token.issued_at.has_value();
    out->issued_at = v.result.token.issued_at.value_or(0);
    strlcpy(out->token_key, v.result.token.revocation_key.c_str(), sizeof out->token_key);
    session_identity_stage_login(v.result.token);
}

const char *identity_role_refusal(Oid roleid, const char *role_name, const char *label,
                                  const char *identity, const char *identity_type) {
    if (strcmp(label, "GROUP") == 0) {
        return group_membership_refusal(role_name, roleid, identity, strcmp(identity_type, "USER") == 0);
    }
    if (strcmp(label, identity_type) != 0)
        return "identity_type_mismatch";
    return pg_strcasecmp(identity, role_name) == 0 ? nullptr : "identity_mismatch";
}

void login_decide(const char *token, Oid roleid, const char *role_name, const char *label,
                  const char *required_issuer, LoginDecision *out) {
    memset(out, 0, sizeof *out);
    PgError err;
    if (!cpp_call(&err, [&] { validate_into(token, required_issuer, out); })) {
        set_reason(out, "internal_error", err.message);
        out->internal_error = true;
        return;
    }
    if (!out->accepted)
        return;
    /* without a label the door leaves the role to PostgreSQL's ident map */
    if (label != nullptr) {
        if (const char *why = identity_role_refusal(roleid, role_name, label, out->identity, out->identity_type)) {
            set_reason(out, why, nullptr);
            return;
        }
    }
    /* revocation applies however the role was decided */
    const char *revoked = nullptr;
    RevocationVerdict rv = revocation_check(out->identity, out->has_iat, out->issued_at, out->token_key, &revoked);
    if (rv != REVOCATION_OK)
        set_reason(out, rv == REVOCATION_REVOKED ? "revoked" : "revocations_unavailable", revoked);
}

bool login_decision_accept(LoginDecision *d, Oid roleid, const char *role_name,
                           const char *client, const char *door) {
    PgError err;
    if (!cpp_call(&err, [&] { session_identity_commit_login(roleid, role_name); })) {
        set_reason(d, "internal_error", err.message);
        d->internal_error = true;
        return false;
    }
    session_registry_set_login_token(d->has_iat, d->issued_at, d->token_key);
    stats_count_login(true);
    /*
     * Like PostgreSQL's own "connection authorized" line, this one is at LOG
     * only with log_connections: building and writing it costs every login
     * a message build, a log write and the first-touch page faults of both
     * (docs/architecture.md#keys-only-the-worker-touches-the-network).
     */
    ereport(dbx_log_connections_on() ? LOG : DEBUG1,
            (errmsg("dbx_oauth: token login accepted: role=\"%s\" identity=\"%s\" type=%s "
                    "client=%s token_fingerprint=%s%s%s",
                    role_name, d->identity, d->identity_type, client ? client : "",
                    d->fingerprint, door ? " door=" : "", door ? door : "")));
    return true;
}

char *login_rejection_text(const char *reason, const char *detail, const char *role_name,
                           const char *identity, const char *client, const char *fingerprint,
                           const char *door) {
    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfo(&buf, "dbx_oauth: token login rejected: reason=%s", reason);
    if (detail && detail[0])
        appendStringInfo(&buf, " %s", detail);
    appendStringInfo(&buf, " role=\"%s\" identity=\"%s\" client=%s token_fingerprint=%s",
                     role_name ? role_name : "", identity ? identity : "", client ? client : "",
                     fingerprint && fingerprint[0] ? fingerprint : "none");
    if (door)
        appendStringInfo(&buf, " door=%s", door);
    return buf.data;
}
