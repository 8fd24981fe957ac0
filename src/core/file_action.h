// AppKit files-plugin actions (docs/volume-policies.md): seven read actions and three
// write actions.  The order is the order of the SQL enum dbx_oauth.file_action
// and must not change.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace dbx_oauth::core {

enum class FileAction : std::uint8_t {
  list,
  read,
  download,
  raw,
  exists,
  metadata,
  preview,
  upload,
  mkdir,
  remove,  // "delete"
};

inline constexpr int kFileActionCount = static_cast<int>(FileAction::remove) + 1;

// "list", "read", ..., "delete".  Never empty.
std::string_view file_action_name(FileAction action);

// Exact, case-sensitive match of a name above.
std::optional<FileAction> parse_file_action(std::string_view name);

// One bit per action, for sets of actions.
constexpr std::uint16_t file_action_bit(FileAction action) {
  return static_cast<std::uint16_t>(1u << static_cast<unsigned>(action));
}

constexpr bool is_read_action(FileAction action) {
  return static_cast<int>(action) <= static_cast<int>(FileAction::preview);
}

constexpr bool is_write_action(FileAction action) { return !is_read_action(action); }

}  // namespace dbx_oauth::core
