// Comma-separated setting values ("a, b,c") as a list.
#pragma once

#include "core/no_postgres.h"

#include <string>
#include <string_view>
#include <vector>

namespace dbx_oauth::core {

// Splits on commas, trims blanks and tabs, drops empty items and repeats
// (first occurrence wins), keeping the order: the shape of every list-valued
// dbx_oauth.* setting (issuers, audience, accepted_scopes, ...).
std::vector<std::string> split_setting_list(std::string_view value);

}  // namespace dbx_oauth::core
