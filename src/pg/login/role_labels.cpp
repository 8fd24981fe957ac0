/*
 * role_labels.cpp — the dbx_oauth security-label provider and role lookups.
 */
#include "pg/login/role_labels.h"
#include "pg/common/compat.h"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_shseclabel.h"
#include "commands/seclabel.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/syscache.h"
}

#include <strings.h>

static bool internal_relabel_allowed = false;

/*
 * Per-backend cache of role labels.  A pooled backend calls set_token once
 * per transaction, and reading a label from pg_shseclabel (open, lock,
 * index scan) was nearly half of its cost.  Entries are dropped on any
 * role change (AUTHOID) and on a relcache invalidation of pg_shseclabel,
 * which the relabel hook below queues: it reaches every backend with the
 * commit of the label change, together with the catalog-snapshot
 * invalidation, so the next transaction reads the new label.  Direct DML on
 * pg_shseclabel bypasses the hook and is not supported.
 */
struct CachedLabel {
    Oid role;
    bool has_label;
    char label[24]; /* longest valid label: SERVICE_PRINCIPAL */
};
static constexpr int kLabelCacheSize = 64;
static CachedLabel label_cache[kLabelCacheSize];
static int label_cache_used = 0;
static int label_cache_next_victim = 0;
static uint64 label_cache_epoch = 0; /* bumped by every flush */
static bool label_callbacks_registered = false;

static void flush_label_cache() {
    label_cache_used = 0;
    label_cache_epoch++;
}

static void label_relcache_callback(Datum, Oid relid) {
    if (relid == InvalidOid || relid == SharedSecLabelRelationId)
        flush_label_cache();
}

static void label_authid_callback(Datum, dbx_syscache_id, uint32) {
    flush_label_cache();
}

void role_labels_allow_internal_relabel(bool allow) {
    internal_relabel_allowed = allow;
}

/*
 * Labels decide who may log in with a token, so only create_role (or a
 * superuser, knowingly) may set them, only on roles, only to a known type.
 */
static void dbx_oauth_object_relabel(const ObjectAddress *object, const char *seclabel) {
    if (object->classId != AuthIdRelationId)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("dbx_oauth labels can only be set on roles")));
    if (!internal_relabel_allowed && !superuser())
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                        errmsg("permission denied to set a dbx_oauth label"),
                        errhint("Use dbx_oauth.create_role().")));
    if (seclabel != nullptr && strcmp(seclabel, "USER") != 0 &&
        strcmp(seclabel, "SERVICE_PRINCIPAL") != 0 && strcmp(seclabel, "GROUP") != 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("invalid dbx_oauth label \"%s\"", seclabel),
                        errdetail("Valid labels are USER, SERVICE_PRINCIPAL and GROUP.")));
    /* Every backend's label cache must forget this role when the change commits. */
    CacheInvalidateRelcacheByRelid(SharedSecLabelRelationId);
}

void role_labels_register_provider(void) {
    register_label_provider(DBX_OAUTH_LABEL_PROVIDER, dbx_oauth_object_relabel);
}

Oid oauth_users_role_oid(void) {
    return get_role_oid(DBX_OAUTH_USERS_ROLE, true);
}

bool role_is_oauth_member(Oid roleid) {
    Oid users = oauth_users_role_oid();
    if (!OidIsValid(users) || !OidIsValid(roleid) || roleid == users)
        return false;
    return is_member_of_role_nosuper(roleid, users);
}

char *role_identity_label(Oid roleid) {
    if (!label_callbacks_registered) {
        CacheRegisterRelcacheCallback(label_relcache_callback, (Datum) 0);
        CacheRegisterSyscacheCallback(AUTHOID, label_authid_callback, (Datum) 0);
        label_callbacks_registered = true;
    }
    for (int i = 0; i < label_cache_used; i++) {
        if (label_cache[i].role == roleid)
            return label_cache[i].has_label ? pstrdup(label_cache[i].label) : nullptr;
    }

    /* table_open inside accepts invalidations: a flush during the read
     * changes the epoch, and the possibly stale result is not kept. */
    uint64 epoch = label_cache_epoch;
    ObjectAddress address;
    address.classId = AuthIdRelationId;
    address.objectId = roleid;
    address.objectSubId = 0;
    char *label = GetSecurityLabel(&address, DBX_OAUTH_LABEL_PROVIDER);
    if (epoch == label_cache_epoch && (label == nullptr || strlen(label) < sizeof label_cache[0].label)) {
        int slot;
        if (label_cache_used < kLabelCacheSize) {
            slot = label_cache_used++;
        } else { /* full: replace round-robin */
            slot = label_cache_next_victim;
            label_cache_next_victim = (slot + 1) % kLabelCacheSize;
        }
        label_cache[slot].role = roleid;
        label_cache[slot].has_label = label != nullptr;
        strlcpy(label_cache[slot].label, label != nullptr ? label : "", sizeof label_cache[slot].label);
    }
    return label;
}

/* Scans pg_shseclabel for dbx_oauth role labels (few rows: one per OAuth role). */
static Oid scan_labelled_roles(const char *identity) {
    Oid found = InvalidOid;
    Relation rel = table_open(SharedSecLabelRelationId, AccessShareLock);
    SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        Form_pg_shseclabel label = (Form_pg_shseclabel) GETSTRUCT(tuple);
        if (label->classoid != AuthIdRelationId)
            continue;
        bool isnull = false;
        Datum provider = heap_getattr(tuple, Anum_pg_shseclabel_provider, RelationGetDescr(rel),
                                      &isnull);
        if (isnull || strcmp(TextDatumGetCString(provider), DBX_OAUTH_LABEL_PROVIDER) != 0)
            continue;
        char *name = GetUserNameFromId(label->objoid, true);
        if (name != nullptr && pg_strcasecmp(name, identity) == 0) {
            found = label->objoid;
            break;
        }
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return found;
}

Oid find_oauth_role_for_identity(const char *identity, bool case_insensitive) {
    Oid roleid = get_role_oid(identity, true);
    if (!OidIsValid(roleid) && case_insensitive)
        roleid = scan_labelled_roles(identity);
    if (!OidIsValid(roleid) || !role_is_oauth_member(roleid) || role_identity_label(roleid) == nullptr)
        return InvalidOid;
    return roleid;
}
