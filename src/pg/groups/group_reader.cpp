/*
 * group_reader.cpp — see group_reader.h.
 */
#include "pg/groups/group_reader.h"

#include "core/scim.h"
#include "pg/keys/worker_http.h"

#include <algorithm>

#include "pg/common/boundary.h"

extern "C" {
#include "miscadmin.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

namespace {

using namespace dbx_oauth;

constexpr size_t kMaxResponseBytes = 4 * 1024 * 1024;
/* Ids per bulk request: `id eq "<19 digits>"` is ~40 bytes encoded, so a
 * batch keeps the URL near 2 KB, well under common 8 KB limits. */
constexpr size_t kResolveBatch = 50;
constexpr int kMaxThrottleRetries = 5;
constexpr long kMaxRetryAfterS = 60;      /* longer: the group fails this round */
constexpr long kDefaultRetryAfterS = 1;   /* 429 without Retry-After */

/* Sleeps ms on the latch (a SIGTERM ends it early). */
void wait_ms(long ms) {
    const TimestampTz until = GetCurrentTimestamp() + static_cast<TimestampTz>(ms) * 1000;
    pg::pg_call([&] {
        for (;;) {
            long left = static_cast<long>((until - GetCurrentTimestamp()) / 1000);
            if (left <= 0 || ShutdownRequestPending)
                break;
            (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
        }
    });
}

/* GET with the round's token; 429 waited out (Retry-After), 401 reported. */
core::HttpResponse scim_get(ScimRound &round, const std::string &url) {
    for (int attempt = 0;; attempt++) {
        if (ShutdownRequestPending)
            throw GroupFailure{"cancelled"};
        if (round.between_requests)
            round.between_requests();
        core::HttpOptions http = worker_http_options(kMaxResponseBytes);
        http.session = round.session;
        round.requests++;
        core::HttpResponse r = core::http_get_bearer(url, round.token(), http);
        if (!r.ok)
            throw GroupFailure{r.error};
        if (r.status == 401)
            round.on_unauthorized();
        if (r.status != 429)
            return r;
        const long wait_s = r.retry_after_s >= 0 ? r.retry_after_s : kDefaultRetryAfterS;
        if (attempt >= kMaxThrottleRetries || wait_s > kMaxRetryAfterS)
            throw GroupFailure{core::scim_error_text(r.status, r.body) + " (rate limited; Retry-After " +
                               std::to_string(wait_s) + " s, " + std::to_string(attempt) + " retries)"};
        round.throttled++;
        wait_ms(std::max<long>(wait_s * 1000, 100));
    }
}

/* Users or service principals by id, paged (the server may return fewer
 * than asked per page). */
std::map<std::string, core::ResolvedMember> resolve_batch(ScimRound &round, core::ScimMemberKind kind,
                                                          const std::vector<std::string> &ids) {
    std::map<std::string, core::ResolvedMember> out;
    int64_t start = 1, seen = 0;
    for (int page = 0;; page++) {
        if (page >= core::kScimMaxPages)
            throw GroupFailure{"SCIM member lookup returned too many pages"};
        core::HttpResponse r = scim_get(
            round, core::scim_bulk_resolve_url(round.base, kind, ids, start, static_cast<int>(ids.size())));
        if (r.status != 200)
            throw GroupFailure{core::scim_error_text(r.status, r.body)};
        core::ScimResolvePage p = core::parse_scim_resolve_page(kind, r.body);
        if (!p.ok)
            throw GroupFailure{p.error};
        seen += p.items;
        for (auto &[id, res] : p.resources)
            out[id] = core::ResolvedMember{res.identity, res.active};
        std::string error;
        std::optional<int64_t> next = core::scim_next_start_index(p, start, seen, &error);
        if (!error.empty())
            throw GroupFailure{error};
        if (!next)
            break;
        start = *next;
    }
    return out;
}

/* A group without a "members" attribute: empty, or not visible to us? */
void check_members_visible(ScimRound &round, const std::string &group_id) {
    core::HttpResponse r = scim_get(round, core::scim_group_probe_url(round.base, group_id));
    if (r.status == 200 && core::scim_members_hidden(r.body))
        throw GroupFailure{"the workspace shows the service principal no members of this group (only id and "
                           "displayName): it needs the workspace admin role, or the group manager role on the "
                           "group",
                           true};
}

}  // namespace

std::map<std::string, core::ResolvedMember> resolve_members(ScimRound &round, core::ScimMemberKind kind,
                                                            const std::vector<std::string> &ids) {
    std::map<std::string, core::ResolvedMember> out;
    for (size_t i = 0; i < ids.size(); i += kResolveBatch) {
        std::vector<std::string> part(ids.begin() + static_cast<std::ptrdiff_t>(i),
                                      ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kResolveBatch)));
        for (auto &kv : resolve_batch(round, kind, part))
            out.insert(std::move(kv));
    }
    return out;
}

GroupRead read_workspace_group(ScimRound &round, const std::string &name, size_t max_members,
                               core::WalkMemo *memo) {
    std::vector<core::ScimGroup> found;
    int64_t start = 1, seen = 0;
    for (int page = 0;; page++) {
        if (page >= core::kScimMaxPages)
            throw GroupFailure{"SCIM group search returned more than " + std::to_string(core::kScimMaxPages) +
                               " pages"};
        core::HttpResponse r = scim_get(round, core::scim_groups_page_url(round.base, name, start));
        if (r.status != 200)
            throw GroupFailure{core::scim_error_text(r.status, r.body)};
        core::ScimListPage p = core::parse_scim_groups_page(r.body);
        if (!p.ok)
            throw GroupFailure{p.error};
        seen += p.items;
        for (core::ScimGroup &sg : p.groups)
            found.push_back(std::move(sg));
        std::string error;
        std::optional<int64_t> next = core::scim_next_start_index(p, start, seen, &error);
        if (!error.empty())
            throw GroupFailure{error};
        if (!next)
            break;
        start = *next;
    }
    std::string error;
    std::optional<core::ScimGroup> group = core::scim_select_group(found, name, &error);
    if (!error.empty())
        throw GroupFailure{error};

    GroupRead out;
    if (!group)
        return out;
    out.found = true;
    if (!group->members_listed)
        check_members_visible(round, group->id);

    core::GroupWalkCallbacks cb;
    cb.resolve = [&](core::ScimMemberKind kind, const std::vector<std::string> &ids) {
        return resolve_batch(round, kind, ids);
    };
    cb.nested_members = [&](const std::string &id) -> std::optional<std::vector<core::ScimMember>> {
        core::HttpResponse r =
            scim_get(round, core::scim_resource_url(round.base, core::ScimMemberKind::group, id));
        if (r.status == 404)
            return std::nullopt;
        if (r.status != 200)
            throw GroupFailure{core::scim_error_text(r.status, r.body)};
        core::ScimIdentity g = core::parse_scim_resource(core::ScimMemberKind::group, r.body);
        if (!g.ok)
            throw GroupFailure{g.error};
        if (!g.members_listed)
            check_members_visible(round, id);
        return g.members;
    };
    cb.cancelled = [] { return ShutdownRequestPending != 0; };
    core::GroupWalkLimits limits;
    limits.max_members = max_members;
    limits.batch = kResolveBatch;
    out.walk = core::walk_group(*group, cb, limits, memo);
    if (out.walk.cancelled)
        throw GroupFailure{"cancelled"};
    return out;
}
