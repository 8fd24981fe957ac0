/*
 * group_membership.cpp — group checks for login and set_token.
 */
#include "pg/group_membership.h"
#include "pg/role_labels.h"

extern "C" {
#include "utils/acl.h"
}

bool group_membership_contains(const char *group_name, Oid group_roleid, const char *identity,
                               bool identity_is_user) {
    (void) group_name;
    Oid member = find_oauth_role_for_identity(identity, identity_is_user);
    if (!OidIsValid(member) || member == group_roleid)
        return false;
    return is_member_of_role_nosuper(member, group_roleid);
}
