/*
 * identity_sync_worker.cpp — service-principal token and group membership
 * sync (see identity_sync_worker.h).
 *
 * One wake-up has three phases, so that C++ objects and PostgreSQL errors
 * never meet:
 *   1. catalog (plain C, own transaction, PG_TRY): the GROUP roles from
 *      pg_shseclabel, recovery state, whether the extension is installed;
 *   2. network (C++ inside cpp_call): token refresh, SCIM reads, publish
 *      to shared memory, status;
 *   3. reconcile (plain C, one transaction per group, a subtransaction per
 *      GRANT/REVOKE): only on a primary with the extension installed.
 * Worker state lives in a static object (never on a stack that ereport
 * could unwind).  The access token and the client secret are never
 * logged, never put in shared memory, and wiped after use where possible.
 */
#include "core/backoff.h"
#include "core/client_credentials.h"
#include "core/discovery.h"
#include "core/key_fetch.h"
#include "core/setting_list.h"
#include "core/http_client.h"
#include "core/scim.h"
#include "pg/keys/worker_http.h"
#include "pg/groups/group_reader.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pg/common/boundary.h"
#include "pg/groups/group_store.h"
#include "pg/common/guc.h"
#include "pg/groups/identity_sync_catalog.h"
#include "pg/groups/deprovision.h"
#include "pg/groups/identity_sync_worker.h"
#include "pg/common/bgworkers.h"

extern "C" {
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace {

using namespace dbx_oauth;

constexpr int64_t kBackoffBaseMs = 2000;
constexpr int64_t kBackoffMaxMs = 300000;
constexpr size_t kMaxResponseBytes = 64 * 1024; /* token endpoint, discovery */
constexpr int64_t kIdleWaitMs = 3600 * 1000;       /* disabled: wait for a reload */
constexpr long kErrorSleepMs = 5000;
constexpr const char *kWorkerName = "dbx_oauth identity sync"; /* prefix of its WARNINGs */

CatalogView catalog_view; /* static: filled by C code, read by C++ code */

/* ---- phase 2 state (C++; static, never on an unwinding stack) ----------- */

struct GroupState {
    GroupSyncInfo info{};
    std::vector<std::string> members;
};

struct SyncState {
    bool loaded = false;            /* previous snapshot taken over from shared memory */
    bool active = false;            /* enabled at the last step */
    std::string config_key;         /* client_id + secret file + issuer */
    core::TokenGrant token;
    int64_t next_token_attempt_ms = 0;
    int token_failures = 0;
    std::string token_error;
    std::string token_endpoint;
    std::vector<GroupState> groups;
    std::set<std::string> deprovisioned; /* inactive identities seen this round */
    /* Deprovisioning (deprovision.h): "Users/<id>" -> identity of members
     * found last round, identities to block and those seen active. */
    std::map<std::string, std::string> known;
    std::vector<std::pair<std::string, std::string>> to_block; /* identity, reason */
    std::set<std::string> active_now;                          /* folded */
    int last_round_requests = 0;
    int last_round_throttled = 0;
    int64_t next_round_ms = 0;
    int round_failures = 0;
    int interval_s = 0;
    int64_t last_round_ms = 0;
    int64 grants = 0;
    int64 revokes = 0;
    TimestampTz reconcile_at = 0;
    std::string reconcile_error;
    std::mt19937_64 rng;
};

/* Keep-alive across a round's requests (kept apart: SyncState is reset by
 * assignment, a session is not copyable). */
core::HttpSession &http_session() {
    static core::HttpSession session;
    return session;
}

SyncState &state() {
    static SyncState s;
    return s;
}

int64_t now_ms() {
    return GetCurrentTimestamp() / 1000;
}

TimestampTz ms_to_ts(int64_t ms) {
    return ms == 0 ? 0 : static_cast<TimestampTz>(ms) * 1000;
}

void log_msg(int elevel, const std::string &msg, const std::string &detail = {}) {
    pg::pg_call([&] {
        ereport(elevel, (errmsg("%s", msg.c_str()), detail.empty() ? 0 : errdetail("%s", detail.c_str())));
    });
}

void copy_text(char *dst, size_t cap, const std::string &src) {
    strlcpy(dst, src.c_str(), cap);
}

std::string first_issuer() {
    std::vector<std::string> issuers =
        core::split_setting_list(dbx_oauth_issuers ? dbx_oauth_issuers : "");
    return issuers.empty() ? std::string() : issuers.front();
}

bool sync_enabled() {
    return dbx_oauth_client_id != nullptr && dbx_oauth_client_id[0] != '\0' &&
           dbx_oauth_client_secret_file != nullptr && dbx_oauth_client_secret_file[0] != '\0';
}

core::HttpOptions http_options() {
    return worker_http_options(kMaxResponseBytes);
}

int64_t backoff_ms(SyncState &s, int failures, int64_t cap) {
    core::BackoffPolicy policy;
    policy.base_ms = kBackoffBaseMs;
    policy.max_ms = std::max<int64_t>(kBackoffBaseMs, std::min(kBackoffMaxMs, cap));
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    return core::backoff_delay_ms(policy, failures, unit(s.rng));
}

void drop_token(SyncState &s) {
    core::wipe(s.token.access_token);
    s.token = core::TokenGrant{};
}

/* ---- the service principal's token -------------------------------------- */

std::string discover_token_endpoint(const std::string &issuer, const core::HttpOptions &http) {
    core::DiscoveryResult d = core::fetch_discovery(
        issuer, dbx_oauth_allow_insecure_http, [&](const std::string &url) { return core::http_get(url, http); });
    if (!d.ok)
        throw pg::SqlError(ERRCODE_CONNECTION_EXCEPTION, d.error);
    if (d.document.token_endpoint.empty())
        throw pg::SqlError(ERRCODE_CONNECTION_EXCEPTION, "discovery document has no \"token_endpoint\"");
    if (std::optional<std::string> why = core::check_token_endpoint(d.document.token_endpoint, issuer))
        throw pg::SqlError(ERRCODE_CONNECTION_EXCEPTION, "token_endpoint refused: " + *why);
    return d.document.token_endpoint;
}

/* Obtains a token; returns an error text (empty on success). */
std::string obtain_token(SyncState &s, const std::string &issuer, int64_t now) {
    const core::HttpOptions http = http_options();
    try {
        if (s.token_endpoint.empty())
            s.token_endpoint = discover_token_endpoint(issuer, http);
    } catch (const pg::SqlError &e) {
        return e.message;
    }

    core::SecretFileResult secret = core::read_client_secret_file(dbx_oauth_client_secret_file);
    if (!secret.ok)
        return secret.error;
    std::string authorization = core::basic_authorization(dbx_oauth_client_id, secret.secret);
    core::wipe(secret.secret);
    core::HttpResponse r =
        core::http_post_form(s.token_endpoint, core::client_credentials_form_body(), authorization, http);
    core::wipe(authorization);
    if (!r.ok) {
        s.token_endpoint.clear(); /* discover again next time */
        return r.error;
    }
    core::TokenGrant grant = core::parse_token_response(r.status, r.body, now);
    core::wipe(r.body);
    if (!grant.ok) {
        if (r.status >= 500 || r.status == 404)
            s.token_endpoint.clear();
        return grant.error;
    }
    drop_token(s);
    s.token = std::move(grant);
    return {};
}

/* Refreshes the token when due; true when a new token was obtained. */
bool maybe_refresh_token(SyncState &s, const std::string &issuer, int64_t now) {
    const bool usable = core::token_usable(s.token, now);
    const bool due = !usable || now >= core::token_refresh_due_ms(s.token.obtained_at_ms, s.token.expires_at_ms);
    if (!due || now < s.next_token_attempt_ms)
        return false;
    std::string error = obtain_token(s, issuer, now);
    if (ShutdownRequestPending)
        return false;
    if (error.empty()) {
        if (s.token_failures > 0 || s.token_error.size() > 0)
            log_msg(LOG, "dbx_oauth identity sync: obtained an access token for client \"" +
                             std::string(dbx_oauth_client_id) + "\" after " + std::to_string(s.token_failures) +
                             " failed attempts");
        else
            log_msg(DEBUG1, "dbx_oauth identity sync: obtained an access token");
        s.token_failures = 0;
        s.token_error.clear();
        s.next_token_attempt_ms = 0;
        return true;
    }
    s.token_failures++;
    s.token_error = error;
    /*
     * Backoff capped at one sync interval (a workspace outage delays the
     * next membership read by at most that).  While the current token is
     * still usable, one attempt is made just before it stops being usable
     * (unless that is under kBackoffBaseMs away): attempts near expiry do
     * not come in bursts.
     */
    const int64_t interval_ms = static_cast<int64_t>(dbx_oauth_group_sync_interval) * 1000;
    int64_t delay = backoff_ms(s, s.token_failures, interval_ms);
    if (core::token_usable(s.token, now)) {
        const int64_t usable_for = s.token.expires_at_ms - core::kTokenUseMarginMs - now;
        if (usable_for > kBackoffBaseMs && usable_for < delay)
            delay = usable_for;
    }
    s.next_token_attempt_ms = now + delay;
    log_msg(WARNING,
            "dbx_oauth identity sync: could not obtain an access token for client \"" +
                std::string(dbx_oauth_client_id) + "\"",
            error + " (attempt " + std::to_string(s.token_failures) + ")");
    return false;
}

/* ---- SCIM ---------------------------------------------------------------- */

/* Reads one group's membership into g (throws GroupFailure). */
void read_group(SyncState &s, ScimRound &round, GroupState &g, core::WalkMemo *memo) {
    GroupRead read = read_workspace_group(round, g.info.name, GROUP_STORE_MAX_MEMBERS, memo);
    const core::GroupWalkResult &w = read.walk;
    g.members = w.identities;
    g.info.synced = true;
    g.info.members_hidden = false;
    g.info.overflow = read.found && w.overflow;
    g.info.found = read.found;
    g.info.member_count = static_cast<int>(g.members.size());
    g.info.unresolved = w.unresolved();
    g.info.inactive = w.inactive;
    for (const std::string &id : w.deprovisioned)
        s.deprovisioned.insert(id);
    if (g.info.overflow) {
        g.members.clear();
        copy_text(g.info.last_error, sizeof g.info.last_error,
                  "group has more than " + std::to_string(GROUP_STORE_MAX_MEMBERS) +
                      " members; logins as this group are refused");
        log_msg(WARNING,
                "dbx_oauth identity sync: workspace group \"" + std::string(g.info.name) + "\" has more than " +
                    std::to_string(GROUP_STORE_MAX_MEMBERS) + " members; logins as this group are refused");
    } else if (!read.found) {
        copy_text(g.info.last_error, sizeof g.info.last_error, "no workspace group has this name");
    } else {
        g.info.last_error[0] = '\0';
    }
    if (w.missing > 0)
        log_msg(WARNING,
                "dbx_oauth identity sync: " + std::to_string(w.missing) + " members of workspace group \"" +
                    std::string(g.info.name) + "\" were not found at the workspace and are left out",
                "They were deleted, or are account-level identities or groups the workspace does not show.");
    if (w.too_deep > 0)
        log_msg(WARNING, "dbx_oauth identity sync: " + std::to_string(w.too_deep) + " groups nested in \"" +
                             std::string(g.info.name) + "\" deeper than " +
                             std::to_string(core::kScimMaxNestingDepth) + " levels are left out");
}

/*
 * After a round: members found inactive are to be blocked; members known
 * last round and referenced by no group now are looked up, and blocked
 * when the workspace no longer has them (deleted) or shows them inactive.
 * Members seen active may be unblocked (deprovision.h).
 */
void find_deprovisioned(SyncState &s, ScimRound &round) {
    s.to_block.clear();
    s.active_now.clear();
    std::map<std::string, std::string> next;
    auto take = [&](const std::string &key, const core::ResolvedMember &m) {
        next[key] = m.identity;
        if (m.active)
            s.active_now.insert(core::fold_member_identity(m.identity));
        else
            s.to_block.emplace_back(m.identity, "deactivated at the workspace");
    };
    for (const auto &[key, r] : round.memo.members)
        if (r)
            take(key, *r);
    const std::string users = std::string(core::scim_member_kind_path(core::ScimMemberKind::user)) + "/";
    const std::string sps = std::string(core::scim_member_kind_path(core::ScimMemberKind::service_principal)) + "/";
    for (const auto &[prefix, kind] : {std::make_pair(users, core::ScimMemberKind::user),
                                       std::make_pair(sps, core::ScimMemberKind::service_principal)}) {
        std::vector<std::string> gone;
        for (const auto &[key, identity] : s.known)
            if (key.compare(0, prefix.size(), prefix) == 0 && round.memo.members.count(key) == 0)
                gone.push_back(key.substr(prefix.size()));
        if (gone.empty() || ShutdownRequestPending)
            continue;
        try {
            std::map<std::string, core::ResolvedMember> found = resolve_members(round, kind, gone);
            for (const std::string &id : gone) {
                auto it = found.find(id);
                if (it != found.end())
                    take(prefix + id, it->second);
                else
                    s.to_block.emplace_back(s.known[prefix + id], "deleted at the workspace");
            }
        } catch (const GroupFailure &f) {
            for (const std::string &id : gone)
                next[prefix + id] = s.known[prefix + id]; /* try again next round */
            log_msg(WARNING, "dbx_oauth identity sync: could not look up members that left every group", f.message);
        }
    }
    s.known = std::move(next);
}

/* ---- one wake-up ---------------------------------------------------------- */

void put_status(SyncState &s, const CatalogView &cat, const char *mode, const std::string &last_error) {
    IdentitySyncStatus st;
    memset(&st, 0, sizeof st);
    st.enabled = sync_enabled();
    strlcpy(st.mode, mode, sizeof st.mode);
    strlcpy(st.client_id, dbx_oauth_client_id ? dbx_oauth_client_id : "", sizeof st.client_id);
    strlcpy(st.database, dbx_oauth_database ? dbx_oauth_database : "", sizeof st.database);
    st.extension_installed = cat.ok && cat.extension_installed;
    st.has_token = core::token_usable(s.token, now_ms());
    st.token_obtained_at = s.token.ok ? ms_to_ts(s.token.obtained_at_ms) : 0;
    st.token_expires_at = s.token.ok ? ms_to_ts(s.token.expires_at_ms) : 0;
    if (s.token.ok && st.enabled)
        st.next_token_refresh = ms_to_ts(std::max(core::token_refresh_due_ms(s.token.obtained_at_ms, s.token.expires_at_ms),
                                                  s.next_token_attempt_ms));
    else if (st.enabled)
        st.next_token_refresh = ms_to_ts(s.next_token_attempt_ms);
    st.token_failures = s.token_failures;
    copy_text(st.token_error, sizeof st.token_error, s.token_error);
    st.last_round = ms_to_ts(s.last_round_ms);
    st.next_round = st.enabled ? ms_to_ts(s.next_round_ms) : 0;
    st.groups_ignored = cat.ok ? cat.ignored : 0;
    copy_text(st.last_error, sizeof st.last_error, last_error);
    st.reconcile_at = s.reconcile_at;
    copy_text(st.reconcile_error, sizeof st.reconcile_error, s.reconcile_error);
    st.grants = s.grants;
    st.revokes = s.revokes;
    st.round_requests = s.last_round_requests;
    st.round_throttled = s.last_round_throttled;
    group_store_put_status(&st);
}

void publish(SyncState &s) {
    std::vector<PublishedGroup> snapshot;
    snapshot.reserve(s.groups.size());
    for (const GroupState &g : s.groups)
        snapshot.push_back(PublishedGroup{g.info, g.members});
    for (const std::string &name : group_store_publish(snapshot)) {
        for (GroupState &g : s.groups) {
            if (name == g.info.name && !g.info.overflow) {
                g.info.overflow = true;
                log_msg(WARNING, "dbx_oauth identity sync: group \"" + name +
                                     "\" does not fit in shared memory; logins as this group are refused");
            }
        }
    }
}

/* Makes s.groups follow the catalog's GROUP roles; true when one was added. */
bool follow_catalog(SyncState &s, const CatalogView &cat) {
    if (!s.loaded) {
        /* A restarted worker keeps what its predecessor published. */
        for (PublishedGroup &p : group_store_copy_snapshot())
            s.groups.push_back(GroupState{p.info, std::move(p.members)});
        s.loaded = true;
    }
    std::vector<GroupState> next;
    bool added = false;
    for (int i = 0; i < cat.ngroups; i++) {
        auto it = std::find_if(s.groups.begin(), s.groups.end(),
                               [&](const GroupState &g) { return g.info.roleid == cat.groups[i].roleid; });
        if (it != s.groups.end() && strcmp(it->info.name, cat.groups[i].name) == 0) {
            next.push_back(std::move(*it));
        } else {
            /* New role, or renamed: a different workspace group. */
            GroupState g;
            strlcpy(g.info.name, cat.groups[i].name, sizeof g.info.name);
            g.info.roleid = cat.groups[i].roleid;
            next.push_back(std::move(g));
            added = true;
        }
    }
    s.groups = std::move(next);
    return added;
}

/* Returns how long to sleep; *reconcile tells phase 3 to run. */
long sync_step(bool reload, bool requested, bool *reconcile) {
    SyncState &s = state();
    const CatalogView &cat = catalog_view;
    *reconcile = false;
    int64_t now = now_ms();

    if (!sync_enabled()) {
        if (s.active) {
            log_msg(LOG, "dbx_oauth identity sync disabled (dbx_oauth.client_id or client_secret_file is empty)");
            drop_token(s);
            s = SyncState{};
            state().loaded = true; /* nothing to take over: the store is cleared */
        }
        group_store_clear();
        put_status(s, cat, "disabled", {});
        return kIdleWaitMs;
    }
    if (!s.active) {
        s.active = true;
        s.rng.seed(static_cast<uint64_t>(MyProcPid) ^ static_cast<uint64_t>(GetCurrentTimestamp()));
        log_msg(LOG, "dbx_oauth identity sync enabled for client \"" + std::string(dbx_oauth_client_id) + "\"");
    }
    const char *mode = !cat.ok ? "primary" : cat.in_recovery ? "standby" : cat.extension_installed ? "primary"
                                                                                                    : "publish_only";
    std::string last_error;
    if (!cat.ok)
        last_error = std::string("could not read GROUP roles: ") + cat.error;
    else if (!cat.extension_installed)
        last_error = "extension dbx_oauth is not installed in database \"" + std::string(dbx_oauth_database) +
                     "\": membership is published, grants are not reconciled";
    else if (cat.ignored > 0)
        last_error = std::to_string(cat.ignored) + " GROUP roles beyond the first " +
                     std::to_string(GROUP_STORE_MAX_GROUPS) + " are not synced";

    const std::string issuer = first_issuer();
    if (issuer.empty()) {
        put_status(s, cat, mode, "dbx_oauth.issuers is empty: no workspace to sync with");
        return 60000;
    }
    const std::string key = std::string(dbx_oauth_client_id) + "\n" + dbx_oauth_client_secret_file + "\n" + issuer;
    if (key != s.config_key) {
        s.config_key = key;
        drop_token(s);
        s.token_endpoint.clear();
        s.token_failures = 0;
        s.token_error.clear();
        s.next_token_attempt_ms = 0;
        http_session().reset();
        s.next_round_ms = 0;
    }
    if (reload && s.interval_s != dbx_oauth_group_sync_interval) {
        s.interval_s = dbx_oauth_group_sync_interval;
        s.next_round_ms = std::min(s.next_round_ms, now + static_cast<int64_t>(s.interval_s) * 1000);
    }

    bool any_failed = false;
    for (const GroupState &g : s.groups)
        any_failed = any_failed || g.info.consecutive_failures > 0;
    /* sync_groups() also retries a failing token endpoint at once. */
    if (requested && !core::token_usable(s.token, now))
        s.next_token_attempt_ms = 0;
    const bool new_token = maybe_refresh_token(s, issuer, now);
    const bool added = cat.ok && follow_catalog(s, cat);
    now = now_ms();
    const bool due = cat.ok && (now >= s.next_round_ms || requested || added || (new_token && any_failed));

    if (due && !ShutdownRequestPending) {
        std::optional<std::string> base = core::scim_base_url(issuer);
        ScimRound round;
        round.base = base.value_or("");
        round.session = &http_session();
        round.token = [&s]() -> const std::string & {
            if (!core::token_usable(s.token, now_ms()))
                throw GroupFailure{"no usable access token" + (s.token_error.empty() ? "" : ": " + s.token_error)};
            return s.token.access_token;
        };
        round.on_unauthorized = [&s] {
            /* Revoked or otherwise refused: get a new one before the next try. */
            drop_token(s);
            s.next_token_attempt_ms = 0;
        };
        s.deprovisioned.clear();
        /* Smallest groups first: a large group never delays the others. */
        std::vector<size_t> order(s.groups.size());
        for (size_t i = 0; i < order.size(); i++)
            order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            return s.groups[a].info.member_count < s.groups[b].info.member_count;
        });
        int failed = 0;
        /* One group: read, keep the previous membership on failure, publish
         * at once what changed (logins follow this group now, not when the
         * whole round ends). */
        auto sync_one = [&](GroupState &g, core::WalkMemo *memo) {
            g.info.last_attempt = GetCurrentTimestamp();
            std::string error;
            bool hidden = false;
            bool changed = false;
            try {
                if (!base)
                    throw GroupFailure{"issuer \"" + issuer + "\" is not a URL"};
                GroupState attempt = g;
                read_group(s, round, attempt, memo);
                attempt.info.consecutive_failures = 0;
                attempt.info.last_success = attempt.info.last_attempt;
                changed = attempt.members != g.members || attempt.info.found != g.info.found ||
                          attempt.info.overflow != g.info.overflow || !g.info.synced;
                g = std::move(attempt);
            } catch (const GroupFailure &f) {
                error = f.message;
                hidden = f.members_hidden;
            }
            if (!error.empty()) {
                failed++;
                g.info.consecutive_failures++;
                changed = g.info.members_hidden != hidden;
                g.info.members_hidden = hidden;
                copy_text(g.info.last_error, sizeof g.info.last_error, error);
                log_msg(WARNING,
                        "dbx_oauth identity sync: could not sync group \"" + std::string(g.info.name) +
                            "\", keeping its previous membership",
                        error);
            }
            if (changed)
                publish(s);
        };
        /*
         * While a large group is walked (many requests), smaller groups that
         * fall due again are re-read in between, with a memo of their own
         * (fresh answers): a removal from a small group is enforced within
         * one interval however long the large group takes.
         */
        const int64_t interval_us = static_cast<int64_t>(dbx_oauth_group_sync_interval) * USECS_PER_SEC;
        GroupState *walking = nullptr;
        bool in_between = false;
        round.between_requests = [&] {
            if (in_between || walking == nullptr)
                return;
            in_between = true;
            const TimestampTz ts = GetCurrentTimestamp();
            for (GroupState &other : s.groups) {
                if (&other == walking || other.info.member_count >= walking->info.member_count ||
                    ts - other.info.last_attempt < interval_us || ShutdownRequestPending)
                    continue;
                core::WalkMemo fresh;
                sync_one(other, &fresh);
            }
            in_between = false;
        };
        for (size_t idx : order) {
            GroupState &g = s.groups[idx];
            if (ShutdownRequestPending)
                break;
            walking = &g;
            sync_one(g, &round.memo);
            walking = nullptr;
        }
        /* A deactivated identity is refused for every group at once, also
         * for groups whose read failed this round (previous membership). */
        if (!s.deprovisioned.empty()) {
            for (GroupState &g : s.groups) {
                auto end = std::remove_if(g.members.begin(), g.members.end(), [&](const std::string &m) {
                    return s.deprovisioned.count(m) > 0;
                });
                if (end != g.members.end()) {
                    g.members.erase(end, g.members.end());
                    g.info.member_count = static_cast<int>(g.members.size());
                }
            }
        }
        find_deprovisioned(s, round);
        s.last_round_requests = round.requests;
        s.last_round_throttled = round.throttled;
        now = now_ms();
        s.last_round_ms = now;
        s.round_failures = failed > 0 ? s.round_failures + 1 : 0;
        const int64_t interval_ms = static_cast<int64_t>(dbx_oauth_group_sync_interval) * 1000;
        s.next_round_ms = now + (failed > 0 ? backoff_ms(s, s.round_failures, interval_ms) : interval_ms);
        publish(s);
        *reconcile = cat.ok && !cat.in_recovery && cat.extension_installed;
    } else if (added) {
        publish(s);
    }
    put_status(s, cat, mode, last_error);

    now = now_ms();
    int64_t wake = s.next_round_ms;
    if (s.token.ok)
        wake = std::min(wake, std::max(core::token_refresh_due_ms(s.token.obtained_at_ms, s.token.expires_at_ms),
                                       s.next_token_attempt_ms));
    else
        wake = std::min(wake, std::max(s.next_token_attempt_ms, now));
    return static_cast<long>(std::clamp<int64_t>(wake - now, 100, kIdleWaitMs));
}

void detach_at_exit(int, Datum) {
    group_store_worker_detach();
}

void report(const dbx_oauth::pg::PgError &err) {
    report_worker_error(kWorkerName, err);
}

}  // namespace

/* For apply_deprovisioning (plain C caller): never throws. */
static bool seen_active(const char *identity) {
    try {
        return state().active_now.count(dbx_oauth::core::fold_member_identity(identity)) > 0;
    } catch (...) {
        return false;
    }
}

/* Phase 3 (deprovisioning): blocks and unblocks through revocation. */
static void deprovision(MemoryContext cxt) {
    int n = 0;
    char **block = nullptr, **reason = nullptr;
    dbx_oauth::pg::PgError err;
    if (!dbx_oauth::pg::cpp_call(&err, [&] {
            const auto &list = state().to_block;
            block = static_cast<char **>(calloc(list.size() + 1, sizeof(char *)));
            reason = static_cast<char **>(calloc(list.size() + 1, sizeof(char *)));
            if (block == nullptr || reason == nullptr)
                throw std::bad_alloc();
            for (const auto &[identity, why] : list) {
                block[n] = strdup(identity.c_str());
                reason[n] = strdup(why.c_str());
                if (block[n] == nullptr || reason[n] == nullptr)
                    throw std::bad_alloc();
                n++;
            }
        })) {
        report(err);
        n = 0;
    }
    if (block != nullptr && reason != nullptr) {
        DeprovisionTotals totals;
        apply_deprovisioning(block, reason, n, seen_active, cxt, &totals);
    }
    for (int i = 0; block != nullptr && block[i] != nullptr; i++)
        free(block[i]);
    for (int i = 0; reason != nullptr && reason[i] != nullptr; i++)
        free(reason[i]);
    free(block);
    free(reason);
}

/* Phase 3: grants and revokes, then the totals into the worker's status. */
static void reconcile(const CatalogView *cat, MemoryContext cxt) {
    ReconcileTotals totals;
    reconcile_group_grants(cat, cxt, &totals);
    deprovision(cxt);
    const int grants = totals.grants, revokes = totals.revokes;
    const char *first_error = totals.first_error;

    dbx_oauth::pg::PgError err;
    if (!dbx_oauth::pg::cpp_call(&err, [&] {
            SyncState &s = state();
            s.grants += grants;
            s.revokes += revokes;
            s.reconcile_at = GetCurrentTimestamp();
            s.reconcile_error = first_error;
            IdentitySyncStatus st = group_store_get_status();
            st.grants = s.grants;
            st.revokes = s.revokes;
            st.reconcile_at = s.reconcile_at;
            strlcpy(st.reconcile_error, first_error, sizeof st.reconcile_error);
            group_store_put_status(&st);
        }))
        report(err);
}

void identity_sync_worker_register(void) {
    /* Hot standbys too: they publish membership for their own logins. */
    register_dbx_oauth_worker("dbx_oauth identity sync", "dbx_oauth_identity_sync_main", BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION, BgWorkerStart_ConsistentState, 10);
}

static MemoryContext reconcile_cxt;

static void sync_init(void) {
    dbx_oauth::pg::PgError err;
    if (!dbx_oauth::pg::cpp_call(&err, [] { dbx_oauth::core::http_global_init(); }))
        report(err);
    reconcile_cxt = AllocSetContextCreate(TopMemoryContext, "dbx_oauth identity sync", ALLOCSET_DEFAULT_SIZES);
}

/* Phase 1 (catalog, C), phase 2 (workspace, C++), phase 3 (grants, C). */
static long sync_loop_step(bool *reload) {
    const bool requested = group_store_take_sync_request();
    if (sync_enabled()) {
        read_catalog(&catalog_view);
    } else {
        memset(&catalog_view, 0, sizeof catalog_view);
        catalog_view.ok = true;
    }
    bool do_reconcile = false;
    const long sleep_ms = worker_cpp_step(kWorkerName, reload, kErrorSleepMs, [&](bool r) {
        return sync_step(r, requested, &do_reconcile);
    });
    if (do_reconcile && !ShutdownRequestPending)
        reconcile(&catalog_view, reconcile_cxt);
    return sleep_ms;
}

extern "C" PGDLLEXPORT void dbx_oauth_identity_sync_main(Datum) {
    worker_handle_signals();
    BackgroundWorkerInitializeConnection(dbx_oauth_database, nullptr, 0);
    group_store_worker_attach(MyLatch, MyProcPid);
    before_shmem_exit(detach_at_exit, (Datum) 0);
    run_worker_loop({"dbx_oauth identity sync worker", sync_init, sync_loop_step});
}
