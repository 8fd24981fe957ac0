/*
 * group_reader.h — one workspace group's membership over SCIM, for the
 * identity sync worker: the group search by displayName, the nested-group
 * walk (core/group_walk.h) with users and service principals resolved in
 * batches, HTTP 429 answered by waiting Retry-After, and the "members not
 * visible" probe.  C++ only; PostgreSQL is called through pg_call for the
 * 429 wait alone.
 */
#pragma once

#include "core/group_walk.h"
#include "core/http_client.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

/* A group that could not be read this round (previous membership kept). */
struct GroupFailure {
    std::string message;
    bool members_hidden = false; /* the service principal may not see members */
};

/* What one round shares between its groups. */
struct ScimRound {
    std::string base;                         /* .../api/2.0/preview/scim/v2 */
    dbx_oauth::core::HttpSession *session = nullptr;
    dbx_oauth::core::WalkMemo memo;           /* cleared when the round starts */
    /* The access token to use now, or throws GroupFailure when none. */
    std::function<const std::string &()> token;
    /* The workspace refused the token (HTTP 401). */
    std::function<void()> on_unauthorized;
    /* Called before each request: lets the worker re-read small groups
     * that fell due while a large one is being walked. */
    std::function<void()> between_requests;
    int requests = 0;
    int throttled = 0;                        /* 429 answers waited out */
};

struct GroupRead {
    bool found = false;
    dbx_oauth::core::GroupWalkResult walk;   /* identities etc. (when found) */
};

/* Users or service principals by id, in batches (absent: not found at the
 * workspace); throws GroupFailure. */
std::map<std::string, dbx_oauth::core::ResolvedMember> resolve_members(ScimRound &round,
                                                                       dbx_oauth::core::ScimMemberKind kind,
                                                                       const std::vector<std::string> &ids);

/* Reads the group named `name` (members resolved through memo); throws
 * GroupFailure. */
GroupRead read_workspace_group(ScimRound &round, const std::string &name, size_t max_members,
                               dbx_oauth::core::WalkMemo *memo);
