/*
 * guc.cpp — definitions of the dbx_oauth.* settings.
 *
 * Defaults follow the README settings table and Lakebase behaviour.  Values are parsed by
 * the code that uses them (validate.cpp parses the comma lists once per
 * settings generation), so check hooks here only reject what can never be
 * valid: "none" or HS* in allowed_algorithms.
 */
#include "pg/common/guc.h"

extern "C" {
#include "utils/guc.h"
#include "utils/varlena.h"
#include "nodes/pg_list.h"
}

#include <climits>
#include <strings.h>

extern "C" {
char *dbx_oauth_issuers = nullptr;
char *dbx_oauth_audience = nullptr;
char *dbx_oauth_accepted_scopes = nullptr;
char *dbx_oauth_allowed_algorithms = nullptr;
int dbx_oauth_clock_skew = 60;
int dbx_oauth_max_token_lifetime = 86400;
char *dbx_oauth_jwks_file = nullptr;
int dbx_oauth_jwks_refresh_interval = 900;
char *dbx_oauth_ca_file = nullptr;
bool dbx_oauth_allow_insecure_http = false;
int dbx_oauth_http_timeout = 10000;
bool dbx_oauth_require_ssl = true;
char *dbx_oauth_authenticator_role = nullptr;
int dbx_oauth_expired_session_action = EXPIRED_SESSION_NONE;
int dbx_oauth_expired_session_grace = 0;
int dbx_oauth_idle_session_timeout = 86400;
int dbx_oauth_max_session_age = 259200;
int dbx_oauth_evict_idle_above = 90;
char *dbx_oauth_client_id = nullptr;
char *dbx_oauth_client_secret_file = nullptr;
int dbx_oauth_group_sync_interval = 300;
int dbx_oauth_group_membership_max_age = 900;
char *dbx_oauth_database = nullptr;
int dbx_oauth_token_cache_size = 256;
int dbx_oauth_unknown_kid_wait = 2000;
int dbx_oauth_max_revocations = 100000;
uint64 dbx_oauth_settings_generation = 1;
}

static const struct config_enum_entry expired_session_action_options[] = {
    {"none", EXPIRED_SESSION_NONE, false},
    {"terminate", EXPIRED_SESSION_TERMINATE, false},
    {nullptr, 0, false},
};

static void assign_dbx_oauth_validation_string(const char *, void *) {
    dbx_oauth_settings_generation++;
}

static void assign_dbx_oauth_validation_int(int, void *) {
    dbx_oauth_settings_generation++;
}

/* "none" and HMAC algorithms can never be enabled: with public keys they are forgeable. */
static bool check_dbx_oauth_allowed_algorithms(char **newval, void **, GucSource) {
    char *copy = pstrdup(*newval);
    List *items = NIL;
    if (!SplitIdentifierString(copy, ',', &items)) {
        GUC_check_errdetail("List syntax is invalid.");
        return false;
    }
    ListCell *lc;
    foreach (lc, items) {
        const char *alg = static_cast<const char *>(lfirst(lc));
        if (strcasecmp(alg, "none") == 0 || strncasecmp(alg, "HS", 2) == 0) {
            GUC_check_errdetail("Algorithm \"%s\" can never be allowed.", alg);
            return false;
        }
    }
    return true;
}

static void define_string(const char *name, const char *desc, char **var, const char *def,
                          GucContext ctx, GucStringAssignHook assign = nullptr,
                          GucStringCheckHook check = nullptr, int flags = 0) {
    DefineCustomStringVariable(name, desc, nullptr, var, def, ctx, flags, check, assign, nullptr);
}

static void define_seconds(const char *name, const char *desc, int *var, int def, int min,
                           int max, GucContext ctx, GucIntAssignHook assign = nullptr) {
    DefineCustomIntVariable(name, desc, nullptr, var, def, min, max, ctx, GUC_UNIT_S, nullptr,
                            assign, nullptr);
}

void dbx_oauth_define_gucs(void) {
    const GucStringAssignHook bump = assign_dbx_oauth_validation_string;

    define_string("dbx_oauth.issuers", "Comma-separated list of trusted token issuers.",
                  &dbx_oauth_issuers, "", PGC_SIGHUP, bump);
    define_string("dbx_oauth.audience",
                  "Comma-separated list of accepted audiences; empty means not checked.",
                  &dbx_oauth_audience, "", PGC_SIGHUP, bump);
    define_string("dbx_oauth.accepted_scopes",
                  "A token must carry at least one of these scopes.",
                  &dbx_oauth_accepted_scopes, "postgres,all-apis", PGC_SIGHUP, bump);
    define_string("dbx_oauth.allowed_algorithms", "JWS algorithms accepted on tokens.",
                  &dbx_oauth_allowed_algorithms,
                  "RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,EdDSA", PGC_SIGHUP, bump,
                  check_dbx_oauth_allowed_algorithms);
    define_seconds("dbx_oauth.clock_skew", "Leeway for exp, nbf and iat checks.",
                   &dbx_oauth_clock_skew, 60, 0, 3600, PGC_SIGHUP,
                   assign_dbx_oauth_validation_int);
    define_seconds("dbx_oauth.max_token_lifetime", "Longest accepted exp - iat.",
                   &dbx_oauth_max_token_lifetime, 86400, 60, 30 * 86400, PGC_SIGHUP,
                   assign_dbx_oauth_validation_int);
    define_string("dbx_oauth.jwks_file",
                  "Static JWKS file whose keys are trusted for every configured issuer.",
                  &dbx_oauth_jwks_file, "", PGC_SIGHUP, bump);
    define_seconds("dbx_oauth.jwks_refresh_interval", "How often the worker refreshes keys.",
                   &dbx_oauth_jwks_refresh_interval, 900, 10, 86400, PGC_SIGHUP);
    define_string("dbx_oauth.ca_file",
                  "PEM file of CA certificates for HTTPS to issuers; empty uses the system store.",
                  &dbx_oauth_ca_file, "", PGC_SIGHUP);
    DefineCustomBoolVariable("dbx_oauth.allow_insecure_http",
                             "Allow plain HTTP to loopback issuers (tests only).", nullptr,
                             &dbx_oauth_allow_insecure_http, false, PGC_SIGHUP, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomIntVariable("dbx_oauth.http_timeout", "Total timeout of one HTTP request.",
                            nullptr, &dbx_oauth_http_timeout, 10000, 100, 300000, PGC_SIGHUP,
                            GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("dbx_oauth.require_ssl",
                             "Refuse token logins over TCP without SSL.", nullptr,
                             &dbx_oauth_require_ssl, true, PGC_SIGHUP, 0, nullptr, nullptr,
                             nullptr);
    define_string("dbx_oauth.authenticator_role",
                  "Role that create_role grants every new OAuth role to (shared-pool pattern).",
                  &dbx_oauth_authenticator_role, "", PGC_SIGHUP);
    DefineCustomEnumVariable("dbx_oauth.expired_session_action",
                             "What the worker does with sessions whose token expired.", nullptr,
                             &dbx_oauth_expired_session_action, EXPIRED_SESSION_NONE,
                             expired_session_action_options, PGC_SIGHUP, 0, nullptr, nullptr,
                             nullptr);
    define_seconds("dbx_oauth.expired_session_grace",
                   "Time after token expiry before expired_session_action applies.",
                   &dbx_oauth_expired_session_grace, 0, 0, 7 * 86400, PGC_SIGHUP);
    define_seconds("dbx_oauth.idle_session_timeout",
                   "Idle OAuth sessions are closed after this long; 0 disables.",
                   &dbx_oauth_idle_session_timeout, 86400, 0, INT_MAX, PGC_SIGHUP);
    define_seconds("dbx_oauth.max_session_age",
                   "OAuth sessions are closed after this long; 0 disables.",
                   &dbx_oauth_max_session_age, 259200, 0, INT_MAX, PGC_SIGHUP);
    DefineCustomIntVariable("dbx_oauth.evict_idle_above",
                            "Percent of max_connections above which idle OAuth sessions are "
                            "evicted, oldest idle first; 0 disables.",
                            nullptr, &dbx_oauth_evict_idle_above, 90, 0, 100, PGC_SIGHUP, 0,
                            nullptr, nullptr, nullptr);
    define_string("dbx_oauth.client_id",
                  "Service-principal application id the worker uses for workspace APIs.",
                  &dbx_oauth_client_id, "", PGC_SIGHUP);
    define_string("dbx_oauth.client_secret_file",
                  "File holding the service principal's OAuth secret (not world-readable).",
                  &dbx_oauth_client_secret_file, "", PGC_SIGHUP);
    define_seconds("dbx_oauth.group_sync_interval", "How often group membership is synced.",
                   &dbx_oauth_group_sync_interval, 300, 10, 86400, PGC_SIGHUP);
    define_seconds("dbx_oauth.group_membership_max_age",
                   "Group logins fail closed when the synced membership is older than this; 0 keeps it forever.",
                   &dbx_oauth_group_membership_max_age, 900, 0, INT_MAX, PGC_SIGHUP);
    define_string("dbx_oauth.database",
                  "Database the worker connects to when it reconciles group grants.",
                  &dbx_oauth_database, "postgres", PGC_POSTMASTER);
    DefineCustomIntVariable("dbx_oauth.token_cache_size",
                            "Validated tokens cached per backend.", nullptr,
                            &dbx_oauth_token_cache_size, 256, 0, 65536, PGC_SIGHUP, 0, nullptr,
                            assign_dbx_oauth_validation_int, nullptr);
    DefineCustomIntVariable("dbx_oauth.unknown_kid_wait",
                            "How long a login with an unknown key id waits for a key refresh.",
                            nullptr, &dbx_oauth_unknown_kid_wait, 2000, 0, 10000, PGC_SIGHUP,
                            GUC_UNIT_MS, nullptr, nullptr, nullptr);

    DefineCustomIntVariable("dbx_oauth.max_revocations",
                            "Revocation entries the shared-memory copy holds; more fail closed.",
                            nullptr, &dbx_oauth_max_revocations, 100000, 1000, 10000000,
                            PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("dbx_oauth");
}
