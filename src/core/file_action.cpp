// Names of the AppKit files-plugin actions.
#include "core/file_action.h"

#include <array>

namespace dbx_oauth::core {

namespace {

constexpr std::array<std::string_view, kFileActionCount> kNames = {
    "list", "read", "download", "raw", "exists", "metadata", "preview", "upload", "mkdir", "delete",
};

}  // namespace

std::string_view file_action_name(FileAction action) {
  auto i = static_cast<std::size_t>(action);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

std::optional<FileAction> parse_file_action(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (kNames[i] == name) return static_cast<FileAction>(i);
  return std::nullopt;
}

}  // namespace dbx_oauth::core
