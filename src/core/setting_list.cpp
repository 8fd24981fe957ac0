#include "core/setting_list.h"

#include <algorithm>

namespace dbx_oauth::core {

std::vector<std::string> split_setting_list(std::string_view value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view item = value.substr(start, comma - start);
    size_t b = item.find_first_not_of(" \t");
    if (b != std::string_view::npos) {
      size_t e = item.find_last_not_of(" \t");
      std::string name(item.substr(b, e - b + 1));
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    }
    start = comma + 1;
  }
  return out;
}

}  // namespace dbx_oauth::core
