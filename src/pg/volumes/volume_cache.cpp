/*
 * volume_cache.cpp — see volume_cache.h.
 *
 * The tables are read with a heap scan under the catalog snapshot (always
 * fresh for a non-catalog relation, and usable in parallel workers),
 * bypassing table privileges: the tables are not readable by PUBLIC, but the
 * policy functions are executable by every role.
 */
#include "core/file_action.h"
#include "core/policy.h"
#include "core/status.h"

#include "pg/common/compat.h"
#include "pg/common/boundary.h"
#include "pg/volumes/volume_cache.h"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
}

#include <unordered_map>
#include <vector>

namespace dbx_oauth::pg {

namespace {

constexpr const char *kSchema = "dbx_oauth";

/* Column numbers; the tables are created by src/sql/50_volumes.sql. */
enum VolumesColumn { vc_key = 1, vc_path, vc_auth, vc_policy, vc_max_upload, vc_max_read, vc_count = vc_max_read };
enum SettingsColumn { sc_auth = 1, sc_max_upload, sc_max_read, sc_dev_mode, sc_count = sc_dev_mode };

bool callbacks_registered = false;
bool cache_valid = false;
uint64_t generation = 0;
Oid volumes_relid = InvalidOid;
Oid settings_relid = InvalidOid;

std::unordered_map<std::string, VolumeEntry> &volumes() {
    static std::unordered_map<std::string, VolumeEntry> map;
    return map;
}
FilesSettings settings;
ExtensionTypes types;

core::PolicyCache &policies() {
    static core::PolicyCache cache;
    return cache;
}

Oid cached_role_oid = InvalidOid;
std::string &cached_role_name() {
    static std::string name;
    return name;
}

void relcache_callback(Datum, Oid relid) {
    if (relid == InvalidOid || relid == volumes_relid || relid == settings_relid)
        cache_valid = false;
}

void authid_callback(Datum, dbx_syscache_id, uint32) { cached_role_oid = InvalidOid; }

/* Plain data copied out of the PostgreSQL scan (no C++ objects while PostgreSQL code may ereport). */
struct RawVolume {
    char *key;
    char *path;
    char *auth;          /* nullptr: NULL */
    char *policy_bytes;  /* jsonb datum bytes (detoasted), nullptr: NULL */
    Size policy_len;
    char *policy_text;
    bool has_upload, has_read;
    int64 max_upload, max_read;
};

struct RawSnapshot {
    Oid volumes_relid, settings_relid;
    ExtensionTypes types;
    RawVolume *rows;
    int nrows;
    bool has_settings;
    char *settings_auth;
    bool has_upload, has_read, has_dev;
    int64 max_upload, max_read;
    bool dev_mode;
};

char *text_datum_cstring(Datum d) { return TextDatumGetCString(d); }

Oid type_oid(const char *name, Oid nsp) {
    Oid oid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum(name), ObjectIdGetDatum(nsp));
    if (!OidIsValid(oid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("type \"%s.%s\" does not exist", kSchema, name),
                        errhint("Is the dbx_oauth extension installed in this database?")));
    return oid;
}

/* Runs under pg_call: PostgreSQL only, results in palloc memory. */
void scan_tables(RawSnapshot *out) {
    Oid nsp = get_namespace_oid(kSchema, false);
    out->volumes_relid = get_relname_relid("volumes", nsp);
    out->settings_relid = get_relname_relid("files_settings", nsp);
    if (!OidIsValid(out->volumes_relid) || !OidIsValid(out->settings_relid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("tables \"%s.volumes\" and \"%s.files_settings\" are missing", kSchema, kSchema)));

    out->types.file_action = type_oid("file_action", nsp);
    out->types.file_resource = type_oid("file_resource", nsp);
    out->types.policy_user = type_oid("policy_user", nsp);
    for (int i = 0; i < core::kFileActionCount; i++) {
        std::string_view name = core::file_action_name(static_cast<core::FileAction>(i));
        char label[NAMEDATALEN];
        strlcpy(label, name.data(), std::min<size_t>(name.size() + 1, sizeof label));
        HeapTuple tup = SearchSysCache2(ENUMTYPOIDNAME, ObjectIdGetDatum(out->types.file_action),
                                        CStringGetDatum(label));
        if (!HeapTupleIsValid(tup))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                            errmsg("enum \"%s.file_action\" has no label \"%s\"", kSchema, label)));
        out->types.action_values[i] = ((Form_pg_enum) GETSTRUCT(tup))->oid;
        ReleaseSysCache(tup);
    }

    Snapshot snap = RegisterSnapshot(GetCatalogSnapshot(out->volumes_relid));

    Relation rel = table_open(out->volumes_relid, AccessShareLock);
    TupleDesc desc = RelationGetDescr(rel);
    if (desc->natts < vc_count)
        elog(ERROR, "table %s.volumes has %d columns, expected %d", kSchema, desc->natts, (int) vc_count);
    int cap = 16;
    out->rows = (RawVolume *) palloc0(sizeof(RawVolume) * cap);
    out->nrows = 0;
    TableScanDesc scan = dbx_table_beginscan(rel, snap, 0, nullptr);
    HeapTuple tup;
    while ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        Datum values[vc_count];
        bool nulls[vc_count];
        heap_deform_tuple(tup, desc, values, nulls); /* natts == vc_count (checked) */
        if (out->nrows == cap) {
            cap *= 2;
            out->rows = (RawVolume *) repalloc(out->rows, sizeof(RawVolume) * cap);
        }
        RawVolume *r = &out->rows[out->nrows++];
        memset(r, 0, sizeof *r);
        r->key = text_datum_cstring(values[vc_key - 1]);
        r->path = text_datum_cstring(values[vc_path - 1]);
        r->auth = nulls[vc_auth - 1] ? nullptr : text_datum_cstring(values[vc_auth - 1]);
        if (!nulls[vc_policy - 1]) {
            Jsonb *jb = DatumGetJsonbP(values[vc_policy - 1]);
            r->policy_len = VARSIZE(jb);
            r->policy_bytes = (char *) palloc(r->policy_len);
            memcpy(r->policy_bytes, jb, r->policy_len);
            r->policy_text = JsonbToCString(nullptr, &jb->root, VARSIZE(jb));
        }
        r->has_upload = !nulls[vc_max_upload - 1];
        r->max_upload = r->has_upload ? DatumGetInt64(values[vc_max_upload - 1]) : 0;
        r->has_read = !nulls[vc_max_read - 1];
        r->max_read = r->has_read ? DatumGetInt64(values[vc_max_read - 1]) : 0;
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);

    rel = table_open(out->settings_relid, AccessShareLock);
    desc = RelationGetDescr(rel);
    if (desc->natts < sc_count)
        elog(ERROR, "table %s.files_settings has %d columns, expected %d", kSchema, desc->natts, (int) sc_count);
    out->has_settings = false;
    scan = dbx_table_beginscan(rel, snap, 0, nullptr);
    if ((tup = heap_getnext(scan, ForwardScanDirection)) != nullptr) {
        Datum values[sc_count];
        bool nulls[sc_count];
        heap_deform_tuple(tup, desc, values, nulls);
        out->has_settings = true;
        out->settings_auth = nulls[sc_auth - 1] ? nullptr : text_datum_cstring(values[sc_auth - 1]);
        out->has_upload = !nulls[sc_max_upload - 1];
        out->max_upload = out->has_upload ? DatumGetInt64(values[sc_max_upload - 1]) : 0;
        out->has_read = !nulls[sc_max_read - 1];
        out->max_read = out->has_read ? DatumGetInt64(values[sc_max_read - 1]) : 0;
        out->has_dev = !nulls[sc_dev_mode - 1];
        out->dev_mode = out->has_dev && DatumGetBool(values[sc_dev_mode - 1]);
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);

    UnregisterSnapshot(snap);
}

std::optional<core::VolumeAuthMode> auth_from(const char *s) {
    if (s == nullptr)
        return std::nullopt;
    return core::parse_volume_auth_mode(s); /* the CHECK constraint allows nothing else */
}

std::shared_ptr<const core::Policy> parse_cached(std::string_view key, const char *text, std::string *error) {
    core::PolicyCache &cache = policies();
    if (auto hit = cache.find(key))
        return hit;
    core::PolicyParseResult r = core::parse_policy(text);
    if (!r.ok()) {
        *error = r.error->to_string();
        return nullptr;
    }
    return cache.insert(key, std::move(*r.policy));
}

void reload() {
    if (!callbacks_registered) {
        pg_call([] {
            CacheRegisterRelcacheCallback(relcache_callback, (Datum) 0);
            CacheRegisterSyscacheCallback(AUTHOID, authid_callback, (Datum) 0);
        });
        callbacks_registered = true;
    }

    /* Mark valid before scanning: an invalidation arriving during the scan
     * (table_open accepts them) marks it stale again. */
    cache_valid = true;
    RawSnapshot raw{};
    try {
        pg_call([&] { scan_tables(&raw); });
    } catch (...) {
        cache_valid = false;
        throw;
    }

    auto &map = volumes();
    map.clear();
    ++generation;
    volumes_relid = raw.volumes_relid;
    settings_relid = raw.settings_relid;
    types = raw.types;

    static const auto public_read = std::make_shared<const core::Policy>(core::Policy::public_read());
    for (int i = 0; i < raw.nrows; i++) {
        const RawVolume &r = raw.rows[i];
        VolumeEntry e;
        e.key = r.key;
        e.volume_path = r.path;
        e.auth = auth_from(r.auth);
        if (r.policy_bytes == nullptr)
            e.policy = public_read;
        else
            e.policy = parse_cached(std::string_view(r.policy_bytes, r.policy_len), r.policy_text, &e.policy_error);
        if (r.has_upload)
            e.max_upload_size = r.max_upload;
        if (r.has_read)
            e.max_read_size = r.max_read;
        std::string key = e.key;
        map.emplace(std::move(key), std::move(e));
    }

    settings = FilesSettings{};
    if (raw.has_settings) {
        settings.auth = auth_from(raw.settings_auth);
        if (raw.has_upload)
            settings.max_upload_size = raw.max_upload;
        if (raw.has_read)
            settings.max_read_size = raw.max_read;
        settings.dev_mode = raw.dev_mode;
    }
    /* The raw palloc copies die with the caller's memory context. */
}

}  // namespace

void volume_cache_refresh() {
    if (!cache_valid)
        reload();
}

uint64_t volume_cache_generation() { return generation; }

const VolumeEntry *volume_cache_find(std::string_view key) {
    auto &map = volumes();
    auto it = map.find(std::string(key));
    return it == map.end() ? nullptr : &it->second;
}

const VolumeEntry &volume_cache_get(std::string_view key) {
    const VolumeEntry *v = volume_cache_find(key);
    if (v == nullptr)
        throw SqlError(ERRCODE_UNDEFINED_OBJECT, "volume \"" + core::sanitize_for_detail(key) + "\" does not exist",
                       "", "Volumes are configured in the table dbx_oauth.volumes.");
    return *v;
}

const FilesSettings &volume_cache_settings() { return settings; }
const ExtensionTypes &volume_cache_types() { return types; }

core::VolumeAuthMode volume_auth_mode(const VolumeEntry &volume) {
    if (volume.auth)
        return *volume.auth;
    if (settings.auth)
        return *settings.auth;
    return core::VolumeAuthMode::service_principal;
}

core::FileAction file_action_from_oid(Oid value) {
    for (int i = 0; i < core::kFileActionCount; i++)
        if (types.action_values[i] == value)
            return static_cast<core::FileAction>(i);
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "unknown file action");
}

Oid file_action_to_oid(core::FileAction action) { return types.action_values[static_cast<int>(action)]; }

std::shared_ptr<const core::Policy> policy_from_jsonb(const void *jsonb) {
    const Jsonb *jb = static_cast<const Jsonb *>(jsonb);
    std::string_view key(reinterpret_cast<const char *>(jb), VARSIZE(jb));
    if (auto hit = policies().find(key))
        return hit;
    char *text = pg_call([&] { return JsonbToCString(nullptr, const_cast<JsonbContainer *>(&jb->root), VARSIZE(jb)); });
    std::string error;
    auto policy = parse_cached(key, text, &error);
    pg_call([&] { pfree(text); });
    if (!policy)
        throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "invalid volume policy: " + error, "",
                       "See the documentation of dbx_oauth volume policies for the policy language.");
    return policy;
}

const std::string &current_role_name() {
    Oid role = GetUserId();
    if (role != cached_role_oid || !callbacks_registered) {
        char *name = pg_call([&] { return GetUserNameFromId(role, false); });
        cached_role_name() = name;
        cached_role_oid = callbacks_registered ? role : InvalidOid;
    }
    return cached_role_name();
}

}  // namespace dbx_oauth::pg
