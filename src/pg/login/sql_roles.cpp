/*
 * sql_roles.cpp — dbx_oauth.create_role() and dbx_oauth.drop_role().
 *
 * Callers need CREATEROLE (or superuser).  A few steps need more than that
 * (setting the dbx_oauth label, ALTER ROLE ... SET session_preload_libraries,
 * a superuser-only setting), so after the privilege check the statements
 * run as the bootstrap superuser with SECURITY_LOCAL_USERID_CHANGE; an error
 * aborts the transaction, which restores the caller's identity and undoes
 * every step (nothing half-applied).
 *
 * This file is plain C style on purpose: SPI and catalog calls may
 * ereport, so no C++ object may be alive across them.
 */
#include "pg/common/guc.h"
#include "pg/login/role_labels.h"
#include "pg/groups/group_store.h"

extern "C" {
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "access/htup_details.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_create_role);
PG_FUNCTION_INFO_V1(dbx_oauth_drop_role);
}

static bool is_uuid(const char *s) {
    static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    if (strlen(s) != sizeof pattern - 1)
        return false;
    for (size_t i = 0; pattern[i]; i++) {
        if (pattern[i] == '-' ? s[i] != '-' : !isxdigit(static_cast<unsigned char>(s[i])))
            return false;
    }
    return true;
}

static bool has_control_or_space(const char *s, bool allow_space) {
    for (const unsigned char *p = reinterpret_cast<const unsigned char *>(s); *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (!allow_space && *p == ' '))
            return true;
    }
    return false;
}

static bool is_email(const char *s) {
    const char *at = strchr(s, '@');
    return at != nullptr && at != s && at[1] != '\0' && strchr(at + 1, '@') == nullptr &&
           !has_control_or_space(s, false);
}

/* Canonical type name for a user-supplied identity type (case-insensitive). */
static const char *parse_type(const char *type) {
    static const char *const names[] = {"USER", "SERVICE_PRINCIPAL", "GROUP"};
    for (const char *name : names) {
        if (pg_strcasecmp(type, name) == 0)
            return name;
    }
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("invalid identity type \"%s\"", type),
                    errhint("Use USER, SERVICE_PRINCIPAL or GROUP.")));
    pg_unreachable();
}

static void check_identity_shape(const char *identity, const char *type) {
    if (identity[0] == '\0')
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("identity must not be empty")));
    if (strlen(identity) >= NAMEDATALEN)
        ereport(ERROR, (errcode(ERRCODE_NAME_TOO_LONG),
                        errmsg("identity \"%s\" is too long for a role name", identity),
                        errdetail("Role names are limited to %d bytes.", NAMEDATALEN - 1)));
    if (strncmp(identity, "pg_", 3) == 0)
        ereport(ERROR, (errcode(ERRCODE_RESERVED_NAME),
                        errmsg("role name \"%s\" is reserved", identity)));
    bool ok = true;
    if (strcmp(type, "USER") == 0)
        ok = is_email(identity);
    else if (strcmp(type, "SERVICE_PRINCIPAL") == 0)
        ok = is_uuid(identity);
    else
        ok = !has_control_or_space(identity, true);
    if (!ok)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid %s identity \"%s\"", type, identity),
                        errdetail("USER identities are email addresses, SERVICE_PRINCIPAL "
                                  "identities are application id UUIDs, GROUP identities are "
                                  "group names without control characters.")));
}

static void require_createrole(const char *action) {
    if (!superuser() && !has_createrole_privilege(GetUserId()))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to %s", action),
                        errdetail("Only roles with the CREATEROLE attribute may manage OAuth roles.")));
}

/*
 * GRANT of an OAuth role to the authenticator.  From PostgreSQL 16 the
 * grant carries its own options: SET (set_token and SET ROLE need it) but
 * no INHERIT, so the authenticator never holds end users' privileges
 * without a switch.  dbx_oauth.grant_to_authenticator() writes the same.
 */
static const char *authenticator_grant_sql(const char *role, const char *authenticator) {
#if PG_VERSION_NUM >= 160000
    return psprintf("GRANT %s TO %s WITH INHERIT FALSE, SET TRUE", role, authenticator);
#else
    return psprintf("GRANT %s TO %s", role, authenticator);
#endif
}

static void run_sql(const char *sql) {
    int rc = SPI_execute(sql, false, 0);
    if (rc < 0)
        elog(ERROR, "dbx_oauth: SPI_execute failed (%d)", rc);
}

/* Runs statements as the bootstrap superuser; the caller's id is restored after. */
static void run_privileged(const char *const *statements, int count) {
    Oid save_userid;
    int save_sec_context;
    GetUserIdAndSecContext(&save_userid, &save_sec_context);
    SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
    role_labels_allow_internal_relabel(true);

    /* the relabel permission must not outlive this call, even on error */
    PG_TRY();
    {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "dbx_oauth: SPI_connect failed");
        for (int i = 0; i < count; i++) {
            if (statements[i] != nullptr)
                run_sql(statements[i]);
        }
        SPI_finish();
    }
    PG_FINALLY();
    {
        role_labels_allow_internal_relabel(false);
    }
    PG_END_TRY();

    SetUserIdAndSecContext(save_userid, save_sec_context);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_create_role(PG_FUNCTION_ARGS) {
    char *identity = text_to_cstring(PG_GETARG_TEXT_PP(0));
    const char *type = parse_type(text_to_cstring(PG_GETARG_TEXT_PP(1)));
    require_createrole("create OAuth roles");
    check_identity_shape(identity, type);

    if (!OidIsValid(oauth_users_role_oid()))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("role \"%s\" does not exist", DBX_OAUTH_USERS_ROLE),
                        errhint("Recreate the dbx_oauth extension.")));
    if (OidIsValid(get_role_oid(identity, true)) ||
        OidIsValid(find_oauth_role_for_identity(identity, strcmp(type, "USER") == 0)))
        ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                        errmsg("role \"%s\" already exists", identity)));

    const char *role = quote_identifier(identity);
    const char *authenticator = dbx_oauth_authenticator_role;
    bool has_authenticator = authenticator != nullptr && authenticator[0] != '\0';
    /* the authenticator itself (a service principal, docs/pooling.md) may come after the setting */
    bool is_authenticator = has_authenticator && strcmp(identity, authenticator) == 0;
    if (has_authenticator && !is_authenticator && !OidIsValid(get_role_oid(authenticator, true)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("role \"%s\" named by dbx_oauth.authenticator_role does not exist",
                               authenticator)));

    const char *statements[] = {
        psprintf("CREATE ROLE %s LOGIN", role),
        psprintf("GRANT %s TO %s", DBX_OAUTH_USERS_ROLE, role),
        psprintf("ALTER ROLE %s SET session_preload_libraries = 'dbx_oauth'", role),
        psprintf("SECURITY LABEL FOR %s ON ROLE %s IS %s", DBX_OAUTH_LABEL_PROVIDER, role,
                 quote_literal_cstr(type)),
        has_authenticator && !is_authenticator ? authenticator_grant_sql(role, quote_identifier(authenticator))
                                               : nullptr,
        /* a new authenticator gets the OAuth roles that exist already */
        is_authenticator ? "SELECT dbx_oauth.grant_to_authenticator()" : nullptr,
    };
    run_privileged(statements, lengthof(statements));
    if (strcmp(type, "GROUP") == 0)
        group_sync_request_at_commit(); /* the new group syncs at once */
    PG_RETURN_TEXT_P(cstring_to_text(identity));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_drop_role(PG_FUNCTION_ARGS) {
    char *identity = text_to_cstring(PG_GETARG_TEXT_PP(0));
    require_createrole("drop OAuth roles");

    Oid roleid = get_role_oid(identity, true);
    if (!OidIsValid(roleid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("role \"%s\" does not exist", identity)));
    if (role_identity_label(roleid) == nullptr)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("role \"%s\" is not an OAuth role", identity),
                        errhint("Use DROP ROLE for roles not made by dbx_oauth.create_role().")));

    const char *statements[] = {psprintf("DROP ROLE %s", quote_identifier(identity))};
    run_privileged(statements, lengthof(statements));
    PG_RETURN_VOID();
}
