/*
 * sql_volumes.cpp — volume access policies in SQL (AppKit files-plugin
 * semantics, docs/volume-policies.md): volume_auth_mode, policy_user,
 * resolve_volume_path, check_size, eval_policy, volume_allows,
 * check_volume_access, validate_policy and the cache-invalidation trigger.
 *
 * volume_allows() is meant for RLS policies and runs per row, so its fast
 * path does no catalog lookup and no JSON work: the volume row and its parsed
 * policy come from the backend cache (volume_cache.h, which also keeps the
 * one cached role name), and path checks work on views of the argument text.
 * Per call site (fn_extra) it remembers what is the same on every row: the
 * volume of the key (or that there is none), the action's enum value, and a
 * copy of the session identity.  Each memo is tagged with what it was made
 * from and is used only while that still holds: the volume cache's
 * generation (bumped at every reload, which the relcache invalidation of a
 * change to dbx_oauth.volumes or files_settings triggers) and the effective
 * identity's version (bumped whenever set_token, reset_token or a role
 * change gives the session another identity).  Nothing decided for one row
 * is reused for another: the path rules and the policy run per row.
 */
#include "core/file_action.h"
#include "core/policy.h"
#include "core/volume_path.h"
#include "pg/session/session_identity.h" /* includes core headers: before postgres.h */

#include "pg/common/boundary.h"
#include "pg/common/compat.h"
#include "pg/volumes/volume_cache.h"

extern "C" {
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/typcache.h"
}

#include <cstring>
#include <optional>
#include <string>
#include <string_view>

using namespace dbx_oauth;
using namespace dbx_oauth::pg;

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_volume_auth_mode);
PG_FUNCTION_INFO_V1(dbx_oauth_policy_user);
PG_FUNCTION_INFO_V1(dbx_oauth_resolve_volume_path);
PG_FUNCTION_INFO_V1(dbx_oauth_check_size);
PG_FUNCTION_INFO_V1(dbx_oauth_eval_policy);
PG_FUNCTION_INFO_V1(dbx_oauth_volume_allows);
PG_FUNCTION_INFO_V1(dbx_oauth_check_volume_access);
PG_FUNCTION_INFO_V1(dbx_oauth_validate_policy);
PG_FUNCTION_INFO_V1(dbx_oauth_volumes_invalidate);
}

namespace {

/* ------------------------------------------------------------------------
 * Per-call-site state (fn_extra, in fn_mcxt): plain data only.
 */

struct FnSlot {
    FnSlot *next;
    char *name;
    FmgrInfo flinfo;
};

struct CallSite {
    MemoryContext mcxt;
    /* last volume looked up (nullptr: not configured), for volume_generation */
    uint64_t volume_generation; /* 0: none yet (the cache's generations start at 1) */
    const VolumeEntry *volume;
    char *volume_key;
    size_t volume_key_len;
    /* last action enum value and its FileAction, for action_generation */
    uint64_t action_generation;
    Oid action_oid;
    core::FileAction action;
    /* last policy parsed (eval_policy); owned, released by a reset callback */
    std::shared_ptr<const core::Policy> *policy;
    char *policy_bytes;
    Size policy_len;
    /* session identity copy, of EffectiveIdentity::version identity_version */
    uint64_t identity_version; /* 0: none (versions start at 2) */
    bool identity_sp;
    char *identity;
    int identity_len;
    int identity_cap;
    /* resolved policy functions */
    FnSlot *fns;
    /* TupleDescs of composite arguments (policy_user, file_resource) */
    TupleDesc row_desc[2];
    Oid row_type[2];
    int32 row_typmod[2];
};

void call_site_reset(void *arg) {
    auto *site = static_cast<CallSite *>(arg);
    delete site->policy; /* noexcept */
    site->policy = nullptr;
}

/* Plain PostgreSQL code: call before the C++ scope.  The struct lives in fn_mcxt. */
CallSite *call_site(FunctionCallInfo fcinfo) {
    FmgrInfo *fl = fcinfo->flinfo;
    if (fl != nullptr && fl->fn_extra != nullptr)
        return static_cast<CallSite *>(fl->fn_extra);
    MemoryContext cxt = fl != nullptr ? fl->fn_mcxt : CurrentMemoryContext;
    auto *site = static_cast<CallSite *>(MemoryContextAllocZero(cxt, sizeof(CallSite)));
    auto *cb = static_cast<MemoryContextCallback *>(MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback)));
    cb->func = call_site_reset;
    cb->arg = site;
    MemoryContextRegisterResetCallback(cxt, cb);
    site->mcxt = cxt;
    if (fl != nullptr)
        fl->fn_extra = site;
    return site;
}

/* Deforms a composite argument with a TupleDesc cached in the call site. */
void deform_composite(CallSite *site, HeapTupleHeader th, Datum *values, bool *nulls, int natts) {
    Oid type = HeapTupleHeaderGetTypeId(th);
    int32 typmod = HeapTupleHeaderGetTypMod(th);
    int slot = -1;
    for (int i = 0; i < 2; i++)
        if (site->row_desc[i] != nullptr && site->row_type[i] == type && site->row_typmod[i] == typmod)
            slot = i;
    if (slot < 0) {
        slot = site->row_desc[0] == nullptr ? 0 : 1;
        MemoryContext old = MemoryContextSwitchTo(site->mcxt);
        site->row_desc[slot] = lookup_rowtype_tupdesc_copy(type, typmod);
        MemoryContextSwitchTo(old);
        site->row_type[slot] = type;
        site->row_typmod[slot] = typmod;
    }
    TupleDesc desc = site->row_desc[slot];
    if (desc->natts != natts)
        elog(ERROR, "composite argument has %d attributes, expected %d", desc->natts, natts);
    HeapTupleData tuple;
    tuple.t_len = HeapTupleHeaderGetDatumLength(th);
    ItemPointerSetInvalid(&tuple.t_self);
    tuple.t_tableOid = InvalidOid;
    tuple.t_data = th;
    heap_deform_tuple(&tuple, desc, values, nulls);
}

std::string_view text_view(const text *t) {
    return std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * The volume of key, or nullptr when it is not configured, with a
 * per-call-site memo valid for one cache generation (C++ scope).  Entries
 * stay valid until the next reload, which changes the generation.
 */
const VolumeEntry *lookup_volume(CallSite *site, std::string_view key) {
    volume_cache_refresh();
    uint64_t generation = volume_cache_generation();
    if (site->volume_generation == generation && site->volume_key_len == key.size() &&
        memcmp(site->volume_key, key.data(), key.size()) == 0)
        return site->volume;
    const VolumeEntry *v = volume_cache_find(key);
    site->volume_generation = 0; /* no memo until the key is copied */
    if (site->volume_key == nullptr || site->volume_key_len < key.size())
        pg_call([&] {
            if (site->volume_key != nullptr)
                pfree(site->volume_key);
            site->volume_key = static_cast<char *>(MemoryContextAlloc(site->mcxt, key.size() + 1));
        });
    memcpy(site->volume_key, key.data(), key.size());
    site->volume_key_len = key.size();
    site->volume = v;
    site->volume_generation = generation;
    return v;
}

/* Same, but raises 42704 for a volume that is not configured. */
const VolumeEntry &find_volume(CallSite *site, std::string_view key) {
    const VolumeEntry *v = lookup_volume(site, key);
    return v != nullptr ? *v : volume_cache_get(key); /* volume_cache_get throws */
}

/* The action of an enum value, memoized per call site for one cache generation. */
core::FileAction site_action(CallSite *site, Oid value) {
    uint64_t generation = volume_cache_generation();
    if (site->action_generation != generation || site->action_oid != value) {
        site->action = file_action_from_oid(value); /* throws for an unknown value */
        site->action_oid = value;
        site->action_generation = generation;
    }
    return site->action;
}

const core::Policy &volume_policy(const VolumeEntry &v) {
    if (!v.policy)
        throw SqlError(ERRCODE_INVALID_OBJECT_DEFINITION,
                       "volume \"" + v.key + "\" has an invalid policy: " + v.policy_error, "",
                       "Correct the policy column of dbx_oauth.volumes.");
    return *v.policy;
}

/*
 * The session's OAuth identity.  Called from the entry point before the C++
 * body, with no C++ object alive: a PostgreSQL error may unwind through it,
 * C++ exceptions are caught by cpp_call.  Per row, while the identity is
 * unchanged, only the noexcept check of the cached one runs.
 */
const EffectiveIdentity *fetch_session_identity() {
    const EffectiveIdentity *e = nullptr;
    if (session_identity_effective_cached(&e))
        return e;
    PgError err;
    if (!cpp_call(&err, [&] { e = session_identity_effective(); }))
        raise_pg_error(&err);
    return e;
}

/*
 * The session's validated OAuth identity as the policy user (e must not be
 * nullptr).  Without one there is no policy user at all: a role name is no
 * identity (any pool role can SET ROLE to a user's role), so callers deny.
 */
core::PolicyUser session_policy_user(CallSite *site, const EffectiveIdentity *e) {
    if (site->identity_version == e->version)
        return core::PolicyUser{std::string_view(site->identity, site->identity_len), site->identity_sp};
    const std::string &id = e->identity;
    site->identity_version = 0; /* until the copy is complete */
    if (site->identity_cap < static_cast<int>(id.size()) + 1) {
        pg_call([&] {
            if (site->identity != nullptr)
                pfree(site->identity);
            site->identity = static_cast<char *>(MemoryContextAlloc(site->mcxt, id.size() + 1));
        });
        site->identity_cap = static_cast<int>(id.size()) + 1;
    }
    memcpy(site->identity, id.data(), id.size());
    site->identity_len = static_cast<int>(id.size());
    site->identity_sp = e->type == core::IdentityType::service_principal;
    site->identity_version = e->version;
    return core::PolicyUser{std::string_view(site->identity, site->identity_len), site->identity_sp};
}

/* ------------------------------------------------------------------------
 * fn nodes: SQL functions (file_action, file_resource, policy_user) -> boolean,
 * resolved once per call site and checked for EXECUTE like any function call.
 */

Datum make_resource(Oid type, std::string_view path, std::string_view volume, std::optional<int64_t> size) {
    TupleDesc desc = lookup_rowtype_tupdesc(type, -1);
    Datum values[3];
    bool nulls[3] = {false, false, !size.has_value()};
    values[0] = PointerGetDatum(cstring_to_text_with_len(path.data(), static_cast<int>(path.size())));
    values[1] = PointerGetDatum(cstring_to_text_with_len(volume.data(), static_cast<int>(volume.size())));
    values[2] = Int64GetDatum(size.value_or(0));
    HeapTuple tup = heap_form_tuple(desc, values, nulls);
    ReleaseTupleDesc(desc);
    return HeapTupleGetDatum(tup);
}

Datum make_user(Oid type, std::string_view id, bool is_service_principal) {
    TupleDesc desc = lookup_rowtype_tupdesc(type, -1);
    Datum values[2];
    bool nulls[2] = {false, false};
    values[0] = PointerGetDatum(cstring_to_text_with_len(id.data(), static_cast<int>(id.size())));
    values[1] = BoolGetDatum(is_service_principal);
    HeapTuple tup = heap_form_tuple(desc, values, nulls);
    ReleaseTupleDesc(desc);
    return HeapTupleGetDatum(tup);
}

void resolve_function(CallSite *site, const char *name, FnSlot *slot) {
    const ExtensionTypes &t = volume_cache_types();
    List *names = dbx_string_to_qualified_name_list(name);
    Oid argtypes[3] = {t.file_action, t.file_resource, t.policy_user};
    Oid fn = LookupFuncName(names, 3, argtypes, true);
    if (!OidIsValid(fn))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                        errmsg("policy function %s(dbx_oauth.file_action, dbx_oauth.file_resource, "
                               "dbx_oauth.policy_user) does not exist", name),
                        errhint("A policy {\"fn\": \"schema.function\"} calls a function of exactly these "
                                "argument types that returns boolean.")));
    if (get_func_rettype(fn) != BOOLOID || get_func_retset(fn))
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("policy function %s must return boolean", name)));
    AclResult acl = dbx_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_FUNCTION, get_func_name(fn));
    fmgr_info_cxt(fn, &slot->flinfo, site->mcxt);
}

class SqlPolicyFunctions final : public core::PolicyFunctionCaller {
public:
    explicit SqlPolicyFunctions(CallSite *site) : site_(site) {}

    bool call(const std::string &name, core::FileAction action, const core::FileResource &r,
              const core::PolicyUser &u) override {
        FnSlot *slot = site_->fns;
        while (slot != nullptr && strcmp(slot->name, name.c_str()) != 0)
            slot = slot->next;
        if (slot == nullptr) {
            CallSite *site = site_;
            const char *cname = name.c_str();
            slot = pg_call([&] {
                auto *s = static_cast<FnSlot *>(MemoryContextAllocZero(site->mcxt, sizeof(FnSlot)));
                resolve_function(site, cname, s);
                s->name = MemoryContextStrdup(site->mcxt, cname);
                s->next = site->fns;
                site->fns = s;
                return s;
            });
        }
        Oid action_oid = file_action_to_oid(action);
        return pg_call([&] {
            const ExtensionTypes &t = volume_cache_types();
            FunctionCallInfo fc = static_cast<FunctionCallInfo>(palloc0(SizeForFunctionCallInfo(3)));
            InitFunctionCallInfoData(*fc, &slot->flinfo, 3, InvalidOid, nullptr, nullptr);
            fc->args[0].value = ObjectIdGetDatum(action_oid);
            fc->args[0].isnull = false;
            fc->args[1].value = make_resource(t.file_resource, r.path, r.volume, r.size);
            fc->args[1].isnull = false;
            fc->args[2].value = make_user(t.policy_user, u.id, u.is_service_principal);
            fc->args[2].isnull = false;
            Datum result = FunctionCallInvoke(fc);
            bool allowed = !fc->isnull && DatumGetBool(result); /* NULL denies */
            pfree(fc);
            return allowed;
        });
    }

private:
    CallSite *site_;
};

/* ------------------------------------------------------------------------
 * Arguments read before any C++ scope (they may ereport).
 */

struct UserArg {
    bool present = false;
    const char *id = "";
    int id_len = 0;
    bool is_service_principal = false;
};

UserArg read_user_arg(FunctionCallInfo fcinfo, CallSite *site, int argno) {
    UserArg u;
    if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
        return u;
    Datum values[2];
    bool nulls[2];
    deform_composite(site, PG_GETARG_HEAPTUPLEHEADER(argno), values, nulls, 2);
    if (!nulls[0]) {
        text *t = DatumGetTextPP(values[0]);
        u.id = VARDATA_ANY(t);
        u.id_len = VARSIZE_ANY_EXHDR(t);
    }
    u.is_service_principal = !nulls[1] && DatumGetBool(values[1]);
    u.present = true;
    return u;
}

struct AccessArgs {
    std::string_view key;
    Oid action;
    std::string_view path;
    std::optional<int64_t> size;
    UserArg as_user;
    const EffectiveIdentity *session = nullptr; /* when !as_user.present */
    CallSite *site = nullptr;
};

void throw_path_error(core::PathStatus st, const VolumeEntry &v) {
    std::string detail;
    if (st == core::PathStatus::outside_volume)
        detail = "The root of volume \"" + v.key + "\" is \"" + v.volume_path + "\".";
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, core::path_status_message(st), detail);
}

std::string size_phrase(int64_t n) { return std::to_string(n) + " bytes"; }

/* 54000 when size is over the volume's limit for action (upload, read). */
void enforce_size(const VolumeEntry &v, core::FileAction action, int64_t size) {
    if (size < 0)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "file size must not be negative");
    const FilesSettings &s = volume_cache_settings();
    const char *what;
    int64_t limit;
    if (action == core::FileAction::upload) {
        what = "upload";
        limit = v.max_upload_size.value_or(s.max_upload_size);
    } else if (action == core::FileAction::read) {
        what = "read";
        limit = v.max_read_size.value_or(s.max_read_size);
    } else {
        return;
    }
    if (size > limit)
        throw SqlError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                       "file size of " + size_phrase(size) + " exceeds the maximum " + what + " size of " +
                           size_phrase(limit) + " for volume \"" + v.key + "\"",
                       "",
                       action == core::FileAction::read ? "Use the \"download\" action for large files." : "");
}

/*
 * volume_allows (enforce == false): false for any path-rule violation.
 * check_volume_access (enforce == true): raises 22023 / 42501 / 54000 and
 * returns the absolute path in *resolved.
 */
bool decide_access(const AccessArgs &a, bool enforce, std::string *resolved) {
    CallSite *site = a.site;
    const VolumeEntry *found = lookup_volume(site, a.key);
    /* volume_allows is for RLS: an unknown volume hides the row instead of failing the scan */
    if (found == nullptr && !enforce)
        return false;
    const VolumeEntry &v = found != nullptr ? *found : volume_cache_get(a.key); /* throws 42704 */
    const core::Policy &policy = volume_policy(v); /* raises for a stored policy that does not parse */
    /* A policy function may run SQL that reloads the volume cache: then hold
     * the policy, and copy the limits needed after evaluation.  Without fn
     * nodes nothing can reload, and the per-row path takes no reference. */
    std::shared_ptr<const core::Policy> hold;
    if (!policy.functions().empty())
        hold = v.policy;
    core::FileAction action = site_action(site, a.action);

    std::string scratch;
    std::string_view relative;
    core::PathStatus st = core::relative_volume_path(v.volume_path, a.path, &scratch, &relative);
    if (st != core::PathStatus::ok) {
        if (enforce)
            throw_path_error(st, v);
        return false;
    }
    if (enforce)
        *resolved = core::join_volume_path(v.volume_path, relative);

    if (!a.as_user.present && a.session == nullptr) {
        if (!enforce)
            return false;
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "Policy denied \"" + std::string(core::file_action_name(action)) + "\" on volume \"" +
                           std::string(a.key) + "\"",
                       "The session has no validated OAuth identity, so there is no policy user.",
                       "Log in with a token, call dbx_oauth.set_token(), or pass as_user.");
    }
    core::PolicyUser user = a.as_user.present
                                ? core::PolicyUser{std::string_view(a.as_user.id, a.as_user.id_len),
                                                   a.as_user.is_service_principal}
                                : session_policy_user(site, a.session);
    core::FileResource resource{relative, a.key, a.size};
    SqlPolicyFunctions functions(site);
    if (!enforce)
        return policy.evaluate(action, resource, user, &functions);

    VolumeEntry limits; /* for enforce_size after evaluation */
    limits.key = v.key;
    limits.max_upload_size = v.max_upload_size;
    limits.max_read_size = v.max_read_size;
    bool allowed = policy.evaluate(action, resource, user, &functions);
    if (!allowed)
        throw SqlError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                       "Policy denied \"" + std::string(core::file_action_name(action)) + "\" on volume \"" +
                           std::string(a.key) + "\"");
    if (a.size)
        enforce_size(limits, action, *a.size);
    return true;
}

AccessArgs read_access_args(FunctionCallInfo fcinfo) {
    AccessArgs a;
    a.site = call_site(fcinfo);
    text *key = PG_GETARG_TEXT_PP(0);
    a.key = text_view(key);
    a.action = PG_GETARG_OID(1);
    text *path = PG_GETARG_TEXT_PP(2);
    a.path = text_view(path);
    if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
        a.size = PG_GETARG_INT64(3);
    a.as_user = read_user_arg(fcinfo, a.site, 4); /* NULL (the default): nothing deformed */
    if (!a.as_user.present)
        a.session = fetch_session_identity();
    return a;
}

}  // namespace

/* volume_auth_mode(volume_key text) returns text */
extern "C" PGDLLEXPORT Datum dbx_oauth_volume_auth_mode(PG_FUNCTION_ARGS) {
    std::string_view key = text_view(PG_GETARG_TEXT_PP(0));
    PgError err;
    text *result = nullptr;
    if (!cpp_call(&err, [&] {
            volume_cache_refresh();
            std::string_view mode = core::volume_auth_mode_name(volume_auth_mode(volume_cache_get(key)));
            result = pg_call([&] { return cstring_to_text_with_len(mode.data(), static_cast<int>(mode.size())); });
        }))
        raise_pg_error(&err);
    PG_RETURN_TEXT_P(result);
}

/* policy_user(volume_key text, forwarded_user text, has_token boolean, programmatic boolean) */
extern "C" PGDLLEXPORT Datum dbx_oauth_policy_user(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("volume key must not be null")));
    std::string_view key = text_view(PG_GETARG_TEXT_PP(0));
    bool has_user = !PG_ARGISNULL(1);
    std::string_view forwarded = has_user ? text_view(PG_GETARG_TEXT_PP(1)) : std::string_view();
    bool has_token = !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
    bool programmatic = PG_NARGS() > 3 && !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);

    PgError err;
    Datum result = (Datum) 0;
    if (!cpp_call(&err, [&] {
            volume_cache_refresh();
            const VolumeEntry &v = volume_cache_get(key);
            core::PolicyUserRequest req;
            req.mode = volume_auth_mode(v);
            if (has_user)
                req.forwarded_user = forwarded;
            req.has_token = has_token;
            req.programmatic = programmatic;
            req.dev_mode = volume_cache_settings().dev_mode;
            core::PolicyUserDecision d = core::decide_policy_user(req);
            if (d.outcome == core::PolicyUserOutcome::unauthorized)
                throw SqlError(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, "unauthorized", "",
                               "Both the forwarded user and the user's access token are required.");
            std::string id = d.outcome == core::PolicyUserOutcome::user ? std::string(d.user_id)
                                                                         : current_role_name();
            bool sp = d.is_service_principal();
            Oid type = volume_cache_types().policy_user;
            result = pg_call([&] { return make_user(type, id, sp); });
        }))
        raise_pg_error(&err);
    PG_RETURN_DATUM(result);
}

/* resolve_volume_path(volume_key text, path text) returns text */
extern "C" PGDLLEXPORT Datum dbx_oauth_resolve_volume_path(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("volume key must not be null")));
    std::string_view key = text_view(PG_GETARG_TEXT_PP(0));
    std::string_view path = PG_ARGISNULL(1) ? std::string_view() : text_view(PG_GETARG_TEXT_PP(1));
    CallSite *site = call_site(fcinfo);
    PgError err;
    text *result = nullptr;
    if (!cpp_call(&err, [&] {
            const VolumeEntry &v = find_volume(site, key);
            std::string scratch;
            std::string_view relative;
            core::PathStatus st = core::relative_volume_path(v.volume_path, path, &scratch, &relative);
            if (st != core::PathStatus::ok)
                throw_path_error(st, v);
            std::string full = core::join_volume_path(v.volume_path, relative);
            result = pg_call([&] { return cstring_to_text_with_len(full.data(), static_cast<int>(full.size())); });
        }))
        raise_pg_error(&err);
    PG_RETURN_TEXT_P(result);
}

/* check_size(volume_key text, action file_action, size bigint) returns void; STRICT */
extern "C" PGDLLEXPORT Datum dbx_oauth_check_size(PG_FUNCTION_ARGS) {
    std::string_view key = text_view(PG_GETARG_TEXT_PP(0));
    Oid action = PG_GETARG_OID(1);
    int64 size = PG_GETARG_INT64(2);
    CallSite *site = call_site(fcinfo);
    PgError err;
    if (!cpp_call(&err, [&] {
            const VolumeEntry &v = find_volume(site, key);
            enforce_size(v, file_action_from_oid(action), size);
        }))
        raise_pg_error(&err);
    PG_RETURN_VOID();
}

/* eval_policy(policy jsonb, action file_action, resource file_resource, "user" policy_user) returns boolean */
extern "C" PGDLLEXPORT Datum dbx_oauth_eval_policy(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
        PG_RETURN_NULL();
    Jsonb *jb = PG_ARGISNULL(0) ? nullptr : PG_GETARG_JSONB_P(0);
    Oid action = PG_GETARG_OID(1);

    CallSite *site = call_site(fcinfo);
    Datum rv[3];
    bool rn[3];
    deform_composite(site, PG_GETARG_HEAPTUPLEHEADER(2), rv, rn, 3);
    std::string_view path = rn[0] ? std::string_view() : text_view(DatumGetTextPP(rv[0]));
    std::string_view volume = rn[1] ? std::string_view() : text_view(DatumGetTextPP(rv[1]));
    std::optional<int64_t> size;
    if (!rn[2])
        size = DatumGetInt64(rv[2]);
    UserArg user = read_user_arg(fcinfo, site, 3);

    PgError err;
    bool allowed = false;
    if (!cpp_call(&err, [&] {
            volume_cache_refresh();
            std::shared_ptr<const core::Policy> policy;
            if (jb == nullptr) {
                static const auto public_read = std::make_shared<const core::Policy>(core::Policy::public_read());
                policy = public_read;
            } else if (site->policy != nullptr && site->policy_len == VARSIZE(jb) &&
                       memcmp(site->policy_bytes, jb, VARSIZE(jb)) == 0) {
                policy = *site->policy;
            } else {
                policy = policy_from_jsonb(jb);
                Size len = VARSIZE(jb);
                pg_call([&] {
                    if (site->policy_bytes != nullptr)
                        pfree(site->policy_bytes);
                    site->policy_bytes = static_cast<char *>(MemoryContextAlloc(site->mcxt, len));
                });
                memcpy(site->policy_bytes, jb, len);
                site->policy_len = len;
                if (site->policy == nullptr)
                    site->policy = new std::shared_ptr<const core::Policy>(policy);
                else
                    *site->policy = policy;
            }
            SqlPolicyFunctions functions(site);
            allowed = policy->evaluate(file_action_from_oid(action), core::FileResource{path, volume, size},
                                       core::PolicyUser{std::string_view(user.id, user.id_len),
                                                        user.is_service_principal},
                                       &functions);
        }))
        raise_pg_error(&err);
    PG_RETURN_BOOL(allowed);
}

/* volume_allows(volume_key text, action file_action, path text, size bigint, as_user policy_user) returns boolean */
extern "C" PGDLLEXPORT Datum dbx_oauth_volume_allows(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
        PG_RETURN_BOOL(false); /* never NULL: convenient in RLS */
    AccessArgs a = read_access_args(fcinfo);
    PgError err;
    bool allowed = false;
    if (!cpp_call(&err, [&] { allowed = decide_access(a, false, nullptr); }))
        raise_pg_error(&err);
    PG_RETURN_BOOL(allowed);
}

/* check_volume_access(volume_key, action, path, size, as_user) returns text (the absolute path) */
extern "C" PGDLLEXPORT Datum dbx_oauth_check_volume_access(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("volume key must not be null")));
    if (PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("file action must not be null")));
    if (PG_ARGISNULL(2))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("%s",
                        core::path_status_message(core::PathStatus::required))));
    AccessArgs a = read_access_args(fcinfo);
    PgError err;
    text *result = nullptr;
    if (!cpp_call(&err, [&] {
            std::string resolved;
            decide_access(a, true, &resolved);
            result = pg_call([&] {
                return cstring_to_text_with_len(resolved.data(), static_cast<int>(resolved.size()));
            });
        }))
        raise_pg_error(&err);
    PG_RETURN_TEXT_P(result);
}

/* validate_policy(policy jsonb) returns boolean: true, or raises 22023 naming the place */
extern "C" PGDLLEXPORT Datum dbx_oauth_validate_policy(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0))
        PG_RETURN_BOOL(true); /* NULL = publicRead */
    Jsonb *jb = PG_GETARG_JSONB_P(0);
    PgError err;
    if (!cpp_call(&err, [&] { (void) policy_from_jsonb(jb); }))
        raise_pg_error(&err);
    PG_RETURN_BOOL(true);
}

/* AFTER ... FOR EACH STATEMENT trigger on volumes and files_settings. */
extern "C" PGDLLEXPORT Datum dbx_oauth_volumes_invalidate(PG_FUNCTION_ARGS) {
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("dbx_oauth_volumes_invalidate() must be called as a trigger")));
    TriggerData *trigdata = (TriggerData *) fcinfo->context;
    CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
    PG_RETURN_POINTER(NULL); /* NULL, not nullptr: 19's PointerGetDatum checks its operand with ?: */
}
