/*
 * group_membership.cpp — group checks for login and set_token.
 */
#include "pg/groups/group_membership.h"
#include "pg/groups/group_store.h"
#include "pg/login/role_labels.h"

extern "C" {
#include "utils/acl.h"
}

/* The published form of an identity: ASCII lower case (core
 * fold_member_identity; emails and UUIDs compare case-insensitively). */
static char *fold_identity_palloc(const char *identity) {
    char *folded = pstrdup(identity);
    for (char *p = folded; *p; p++)
        *p = pg_ascii_tolower(static_cast<unsigned char>(*p));
    return folded;
}

const char *group_membership_refusal(const char *group_name, Oid group_roleid, const char *identity,
                                     bool identity_is_user) {
    (void) group_name;
    static const char *const kNotMember = "not_a_group_member";
    if (!OidIsValid(group_roleid) || identity == nullptr || identity[0] == '\0')
        return kNotMember;

    char *folded = fold_identity_palloc(identity);
    const int published = group_store_lookup(group_roleid, folded);
    pfree(folded);
    if (published == GROUP_STORE_STALE)
        return "group_membership_stale";
    if (published >= 0)
        return published == 1 ? nullptr : kNotMember;

    /* Never synced: the catalog grant decides. */
    Oid member = find_oauth_role_for_identity(identity, identity_is_user);
    if (!OidIsValid(member) || member == group_roleid)
        return kNotMember;
    return is_member_of_role_nosuper(member, group_roleid) ? nullptr : kNotMember;
}

bool group_membership_contains(const char *group_name, Oid group_roleid, const char *identity,
                               bool identity_is_user) {
    return group_membership_refusal(group_name, group_roleid, identity, identity_is_user) == nullptr;
}
