/*
 * sql_revocation.cpp — revoke_tokens, block_identity, unblock_identity,
 * revoke_token and revocation_mirror, and the internal entry points of the
 * identity sync (dbx_oauth_revocation_block / _unblock).
 *
 * Every change is written to dbx_oauth.revocation_entries through SPI,
 * moves revocation_state.revision (so standbys' workers reload), and is
 * queued here; the queue reaches shared memory when the transaction
 * commits and is dropped when it (or the subtransaction) aborts.
 *
 * The SQL functions are not SECURITY DEFINER: they must see their caller
 * to check it (superuser or member of dbx_oauth_admin, else 42501), and
 * then write as their owner, which is what a definer function would do.
 * Plain C style: SPI and catalog calls may ereport.
 */
#include "core/validator.h"
#include "pg/common/boundary.h"
#include "pg/keys/token_errors.h"
#include "pg/keys/validate.h"

#include "pg/common/guc.h"
#include "pg/lifecycle/session_registry.h"
#include "pg/revocation/revocation.h"
#include "pg/revocation/revocation_store.h"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/tuplestore.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "commands/dbcommands.h"
#include "utils/lsyscache.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
}

using namespace dbx_oauth;
using namespace dbx_oauth::pg;

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_revoke_tokens);
PG_FUNCTION_INFO_V1(dbx_oauth_block_identity);
PG_FUNCTION_INFO_V1(dbx_oauth_unblock_identity);
PG_FUNCTION_INFO_V1(dbx_oauth_revoke_token);
PG_FUNCTION_INFO_V1(dbx_oauth_revocation_mirror);
}

static constexpr uint8 kSourceAdmin = 1, kSourceGroupSync = 2; /* core::RevocationSource */
static constexpr int64 kUnixEpochOffsetUs =
    (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

/* ---- changes waiting for commit ---------------------------------------- */

struct PendingOp {
    RevocationOp op;
    int level; /* transaction nesting level that made it */
};

static PendingOp *pending = nullptr;
static int pending_count = 0;
static int pending_capacity = 0;

static void queue_op(RevocationOpKind kind, const char *key, uint8 sources, int64 value) {
    if (pending_count == pending_capacity) {
        int capacity = pending_capacity == 0 ? 16 : pending_capacity * 2;
        pending = static_cast<PendingOp *>(
            pending == nullptr ? MemoryContextAlloc(TopMemoryContext, sizeof(PendingOp) * capacity)
                               : repalloc(pending, sizeof(PendingOp) * capacity));
        pending_capacity = capacity;
    }
    PendingOp &p = pending[pending_count++];
    memset(&p, 0, sizeof p);
    p.op.kind = kind;
    p.op.sources = sources;
    p.op.value = value;
    strlcpy(p.op.key, key, sizeof p.op.key);
    p.level = GetCurrentTransactionNestLevel();
}

static void revocation_xact_callback(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
        for (int i = 0; i < pending_count; i++)
            revocation_store_apply(&pending[i].op, 1);
        pending_count = 0;
        break;
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE: /* COMMIT PREPARED moves the revision: the worker reloads */
        pending_count = 0;
        break;
    default:
        break;
    }
}

static void revocation_subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void *) {
    int level = GetCurrentTransactionNestLevel();
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        int kept = 0;
        for (int i = 0; i < pending_count; i++)
            if (pending[i].level < level)
                pending[kept++] = pending[i];
        pending_count = kept;
    } else if (event == SUBXACT_EVENT_COMMIT_SUB) {
        for (int i = 0; i < pending_count; i++)
            if (pending[i].level >= level)
                pending[i].level = level - 1;
    }
}

void revocation_xact_init(void) {
    RegisterXactCallback(revocation_xact_callback, nullptr);
    RegisterSubXactCallback(revocation_subxact_callback, nullptr);
}

/* ---- checks and SPI ------------------------------------------------------ */

/*
 * The server enforces the revocations of one database, the one its workers
 * use: made anywhere else they would hold only until the next reload.
 */
static void require_revocation_database(void) {
    const char *db = get_database_name(MyDatabaseId);
    if (db == nullptr || dbx_oauth_database == nullptr || strcmp(db, dbx_oauth_database) != 0)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("revocations must be made in database \"%s\"", dbx_oauth_database ? dbx_oauth_database : ""),
                        errdetail("The server enforces the revocations kept in the database named by dbx_oauth.database.")));
}

static void require_admin(void) {
    Oid admin = get_role_oid("dbx_oauth_admin", true);
    if (!superuser() && !(OidIsValid(admin) && has_privs_of_role(GetUserId(), admin)))
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to change OAuth revocations"),
                        errdetail("Only superusers and members of dbx_oauth_admin may revoke tokens or block identities.")));
    require_revocation_database();
}

static const char *identity_arg(FunctionCallInfo fcinfo, int n) {
    if (PG_ARGISNULL(n))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("identity must not be null")));
    char *identity = text_to_cstring(PG_GETARG_TEXT_PP(n));
    if (identity[0] == '\0' || strlen(identity) >= SESSION_IDENTITY_MAX)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("identity must be between 1 and %d bytes long", SESSION_IDENTITY_MAX - 1)));
    return identity;
}

static void require_room(void) {
    if (!revocation_store_has_room())
        ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                        errmsg("too many revocations"),
                        errdetail("The shared-memory copy holds %d entries (dbx_oauth.max_revocations).",
                                  dbx_oauth_max_revocations),
                        errhint("Raise dbx_oauth.max_revocations and restart the server.")));
}

/* Runs one statement with text/timestamptz parameters; returns SPI_processed. */
static uint64 run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls) {
    int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
    if (rc < 0)
        elog(ERROR, "dbx_oauth: revocation statement failed: %s", SPI_result_code_string(rc));
    return SPI_processed;
}

static void bump_revision(void) {
    run("UPDATE dbx_oauth.revocation_state SET revision = revision + 1", 0, nullptr, nullptr, nullptr);
}

static Datum text_datum(const char *s) {
    return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* The SQL function's owner: the writes run as it, as in SECURITY DEFINER. */
static Oid function_owner(FunctionCallInfo fcinfo) {
    HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
    Oid owner = ((Form_pg_proc) GETSTRUCT(tuple))->proowner;
    ReleaseSysCache(tuple);
    return owner;
}

/* Switches to the owner for the writes; the caller's name goes into created_by. */
struct AsOwner {
    Oid saved_user;
    int saved_context;
    char *caller;
};

static AsOwner become_owner(FunctionCallInfo fcinfo) {
    AsOwner s;
    s.caller = GetUserNameFromId(GetUserId(), false);
    GetUserIdAndSecContext(&s.saved_user, &s.saved_context);
    SetUserIdAndSecContext(function_owner(fcinfo), s.saved_context | SECURITY_LOCAL_USERID_CHANGE);
    return s;
}

static void restore_user(const AsOwner &s) {
    SetUserIdAndSecContext(s.saved_user, s.saved_context);
}

/* ---- the changes ----------------------------------------------------------- */

static TimestampTz write_cutoff(const char *identity, TimestampTz issued_before, const char *reason,
                               const char *created_by) {
    require_room();
    Oid types[4] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
    Datum values[4] = {text_datum(identity), TimestampTzGetDatum(issued_before), text_datum(reason),
                       text_datum(created_by)};
    char nulls[4] = {' ', ' ', reason ? ' ' : 'n', ' '};
    SPI_connect();
    run("INSERT INTO dbx_oauth.revocation_entries AS r (kind, identity, issued_before, reason, source, created_by) "
        "VALUES ('identity-cutoff', $1, $2, $3, 'admin', $4) "
        "ON CONFLICT ((pg_catalog.lower(identity))) WHERE kind = 'identity-cutoff' DO UPDATE "
        "SET issued_before = GREATEST(r.issued_before, EXCLUDED.issued_before), "
        "reason = EXCLUDED.reason, created_at = pg_catalog.now(), created_by = EXCLUDED.created_by "
        "RETURNING issued_before",
        4, types, values, nulls);
    bool isnull = true;
    TimestampTz cutoff = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
    bump_revision();
    SPI_finish();
    queue_op(REV_OP_CUTOFF, identity, 0, cutoff + kUnixEpochOffsetUs);
    return cutoff;
}

static bool write_block(const char *identity, const char *reason, const char *source, uint8 source_bit,
                        const char *created_by) {
    require_room();
    Oid types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
    Datum values[4] = {text_datum(identity), text_datum(reason), text_datum(source), text_datum(created_by)};
    char nulls[4] = {' ', reason ? ' ' : 'n', ' ', ' '};
    SPI_connect();
    uint64 added = run("INSERT INTO dbx_oauth.revocation_entries (kind, identity, reason, source, created_by) "
                       "VALUES ('identity-block', $1, $2, $3, $4) "
                       "ON CONFLICT ((pg_catalog.lower(identity)), source) WHERE kind = 'identity-block' DO NOTHING",
                       4, types, values, nulls);
    if (added > 0)
        bump_revision();
    SPI_finish();
    queue_op(REV_OP_BLOCK, identity, source_bit, 0);
    return added > 0;
}

/* source NULL: every block of the identity. */
static bool write_unblock(const char *identity, const char *source, uint8 source_bits) {
    Oid types[2] = {TEXTOID, TEXTOID};
    Datum values[2] = {text_datum(identity), text_datum(source)};
    char nulls[2] = {' ', source ? ' ' : 'n'};
    SPI_connect();
    uint64 removed = run("DELETE FROM dbx_oauth.revocation_entries WHERE kind = 'identity-block' "
                         "AND pg_catalog.lower(identity) = pg_catalog.lower($1) AND ($2::text IS NULL OR source = $2)",
                         2, types, values, nulls);
    if (removed > 0)
        bump_revision();
    SPI_finish();
    queue_op(REV_OP_UNBLOCK, identity, source_bits, 0);
    return removed > 0;
}

static bool write_token(const char *identity, const char *token_key, int64 expires_unix, const char *created_by) {
    require_room();
    TimestampTz expires = time_t_to_timestamptz(static_cast<pg_time_t>(expires_unix));
    Oid types[4] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
    Datum values[4] = {text_datum(identity), text_datum(token_key), TimestampTzGetDatum(expires),
                       text_datum(created_by)};
    char nulls[4] = {' ', ' ', ' ', ' '};
    SPI_connect();
    uint64 added = run("INSERT INTO dbx_oauth.revocation_entries (kind, identity, token_key, expires_at, source, created_by) "
                       "VALUES ('token', $1, $2, $3, 'admin', $4) "
                       "ON CONFLICT (token_key) WHERE kind = 'token' DO NOTHING",
                       4, types, values, nulls);
    if (added > 0)
        bump_revision();
    SPI_finish();
    queue_op(REV_OP_TOKEN, token_key, 0, expires_unix);
    return added > 0;
}

static uint8 source_bit(const char *source) {
    if (source != nullptr && strcmp(source, "admin") == 0)
        return kSourceAdmin;
    if (source != nullptr && strcmp(source, "group_sync") == 0)
        return kSourceGroupSync;
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("invalid revocation source \"%s\"", source ? source : ""),
                    errhint("Use \"admin\" or \"group_sync\".")));
    return 0;
}

/* ---- internal entry points ------------------------------------------------ */

extern "C" bool dbx_oauth_revocation_block(const char *identity, const char *reason, const char *source) {
    require_revocation_database();
    uint8 bit = source_bit(source);
    return write_block(identity, reason, source, bit, GetUserNameFromId(GetUserId(), false));
}

extern "C" bool dbx_oauth_revocation_unblock(const char *identity, const char *source) {
    require_revocation_database();
    return write_unblock(identity, source, source_bit(source));
}

/* ---- SQL functions ----------------------------------------------------------- */

extern "C" PGDLLEXPORT Datum dbx_oauth_revoke_tokens(PG_FUNCTION_ARGS) {
    require_admin();
    const char *identity = identity_arg(fcinfo, 0);
    if (PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("issued_before must not be null")));
    TimestampTz issued_before = PG_GETARG_TIMESTAMPTZ(1);
    if (TIMESTAMP_NOT_FINITE(issued_before))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("issued_before must be finite"),
                        errhint("To refuse every token of an identity, use dbx_oauth.block_identity().")));
    const char *reason = PG_ARGISNULL(2) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(2));
    AsOwner owner = become_owner(fcinfo);
    TimestampTz cutoff = write_cutoff(identity, issued_before, reason, owner.caller);
    restore_user(owner);
    PG_RETURN_TIMESTAMPTZ(cutoff);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_block_identity(PG_FUNCTION_ARGS) {
    require_admin();
    const char *identity = identity_arg(fcinfo, 0);
    const char *reason = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
    AsOwner owner = become_owner(fcinfo);
    bool added = write_block(identity, reason, "admin", kSourceAdmin, owner.caller);
    restore_user(owner);
    PG_RETURN_BOOL(added);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_unblock_identity(PG_FUNCTION_ARGS) {
    require_admin();
    const char *identity = identity_arg(fcinfo, 0);
    AsOwner owner = become_owner(fcinfo);
    /* An administrator lifts every block, the identity sync's too. */
    bool removed = write_unblock(identity, nullptr, kSourceAdmin | kSourceGroupSync);
    restore_user(owner);
    PG_RETURN_BOOL(removed);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_revoke_token(PG_FUNCTION_ARGS) {
    require_admin();
    text *token = PG_GETARG_TEXT_PP(0);

    /* Plain data out of the C++ scope. */
    struct {
        bool expired = false;
        char identity[SESSION_IDENTITY_MAX] = {0};
        char key[REVOCATION_KEY_MAX] = {0};
        int64 expires_at = 0;
    } t;
    PgError err;
    if (!cpp_call(&err, [&] {
            std::string_view tok(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token));
            BackendValidation v = validate_token_in_backend(tok, false);
            if (v.result.reason == core::Reason::expired) {
                t.expired = true;
                return;
            }
            if (!v.result.ok())
                throw_token_error(v.result);
            strlcpy(t.identity, v.result.token.identity.c_str(), sizeof t.identity);
            strlcpy(t.key, v.result.token.revocation_key.c_str(), sizeof t.key);
            /* accepted until exp + clock_skew: remember it that long */
            t.expires_at = v.result.token.expires_at + dbx_oauth_clock_skew;
        }))
        raise_pg_error(&err);
    if (t.expired)
        PG_RETURN_BOOL(false); /* refused anyway: nothing to remember */

    AsOwner owner = become_owner(fcinfo);
    (void) write_token(t.identity, t.key, t.expires_at, owner.caller);
    restore_user(owner);
    PG_RETURN_BOOL(true);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_revocation_mirror(PG_FUNCTION_ARGS) {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "return type must be a row type");
    RevocationMirrorStatus st = revocation_store_status();
    Datum values[5] = {BoolGetDatum(st.loaded), Int32GetDatum((int32) st.entries), Int32GetDatum((int32) st.capacity),
                       BoolGetDatum(st.overflowed), Int64GetDatum(st.revision)};
    bool nulls[5] = {false, false, false, false, false};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}
