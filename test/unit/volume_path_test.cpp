// Unit tests for the volume path rules (src/core/volume_path.h).
#include "core/volume_path.h"

#include <gtest/gtest.h>

#include <string>

using namespace dbx_oauth::core;

namespace {

constexpr std::string_view kRoot = "/Volumes/main/app/uploads";

struct Resolved {
  PathStatus status;
  std::string relative;
  bool borrowed;  // *relative points into the input
};

Resolved resolve(std::string_view path) {
  std::string scratch;
  std::string_view rel;
  PathStatus st = relative_volume_path(kRoot, path, &scratch, &rel);
  bool borrowed = rel.empty() || (rel.data() >= path.data() && rel.data() < path.data() + path.size());
  return {st, std::string(rel), borrowed};
}

}  // namespace

TEST(VolumeRoot, Valid) {
  EXPECT_TRUE(is_valid_volume_root("/Volumes/main/app/uploads"));
  EXPECT_TRUE(is_valid_volume_root("/Volumes/c/s/v"));
  for (const char* bad : {"", "/Volumes", "/Volumes/", "/Volumes/c/s", "/Volumes/c/s/", "/Volumes/c/s/v/",
                          "/Volumes/c/s/v/x", "/volumes/c/s/v", "Volumes/c/s/v", "/Volumes//s/v",
                          "/Volumes/c/../v", "/Volumes/c/s/.", "/Volumes/c/s/.."}) {
    EXPECT_FALSE(is_valid_volume_root(bad)) << bad;
  }
  EXPECT_FALSE(is_valid_volume_root(std::string("/Volumes/c/s/v\0", 15)));
}

TEST(VolumePath, RelativeJoined) {
  auto r = resolve("docs/a.txt");
  EXPECT_EQ(r.status, PathStatus::ok);
  EXPECT_EQ(r.relative, "docs/a.txt");
  EXPECT_TRUE(r.borrowed);  // no allocation on the common path
  EXPECT_EQ(join_volume_path(kRoot, r.relative), "/Volumes/main/app/uploads/docs/a.txt");
  EXPECT_EQ(join_volume_path(kRoot, ""), "/Volumes/main/app/uploads");
}

TEST(VolumePath, Required) {
  EXPECT_EQ(resolve("").status, PathStatus::required);
  EXPECT_STREQ(path_status_message(PathStatus::required), "path is required");
}

TEST(VolumePath, DotDotInEveryPosition) {
  for (const char* p : {"..", "../x", "a/..", "a/../b", "a/b/..", "/Volumes/main/app/uploads/..",
                        "/Volumes/main/app/uploads/../other/x", "/..", "../", "a/../", "./..", "a//../b",
                        "/Volumes/main/app/../app/uploads/x"}) {
    EXPECT_EQ(resolve(p).status, PathStatus::traversal) << p;
  }
  EXPECT_STREQ(path_status_name(PathStatus::traversal), "traversal");
}

TEST(VolumePath, DotDotLookalikesAreLiteralNames) {
  for (const char* p : {"...", "..a", "a..", "a/.../b", "%2e%2e/x", "%2E%2E%2Fetc", "..%2f..%2fx", "..\\x",
                        "a\\..\\b", ". ./x", ".. /x", "\xe2\x80\xa4\xe2\x80\xa4/x"}) {
    auto r = resolve(p);
    EXPECT_EQ(r.status, PathStatus::ok) << p;
    EXPECT_EQ(r.relative, p);
  }
}

TEST(VolumePath, Nul) {
  EXPECT_EQ(resolve(std::string_view("a\0b", 3)).status, PathStatus::contains_nul);
  EXPECT_EQ(resolve(std::string_view("\0", 1)).status, PathStatus::contains_nul);
  // NUL is found before "..".
  EXPECT_EQ(resolve(std::string_view("../\0", 4)).status, PathStatus::contains_nul);
}

TEST(VolumePath, Length) {
  std::string p(4096, 'a');
  EXPECT_EQ(resolve(p).status, PathStatus::ok);
  p.push_back('a');
  EXPECT_EQ(resolve(p).status, PathStatus::too_long);
  // Bytes, not characters: 2048 two-byte characters are 4096 bytes.
  std::string utf8;
  for (int i = 0; i < 2048; ++i) utf8 += "\xc3\xa9";
  EXPECT_EQ(resolve(utf8).status, PathStatus::ok);
  EXPECT_EQ(resolve(utf8 + "x").status, PathStatus::too_long);
}

TEST(VolumePath, AbsoluteInsideVolume) {
  auto r = resolve("/Volumes/main/app/uploads/docs/a.txt");
  EXPECT_EQ(r.status, PathStatus::ok);
  EXPECT_EQ(r.relative, "docs/a.txt");
  EXPECT_TRUE(r.borrowed);
  r = resolve("/Volumes/main/app/uploads");
  EXPECT_EQ(r.status, PathStatus::ok);
  EXPECT_EQ(r.relative, "");
  r = resolve("/Volumes/main/app/uploads/");
  EXPECT_EQ(r.status, PathStatus::ok);
  EXPECT_EQ(r.relative, "");
}

TEST(VolumePath, AbsoluteOutsideVolume) {
  for (const char* p : {"/", "/etc/passwd", "/Volumes", "/Volumes/", "/Volumes/main/app", "/Volumes/main/app/",
                        "/Volumes/main/app/uploads2/x", "/Volumes/main/app/uploadsx", "/Volumes/main/other/uploads/x",
                        "/volumes/main/app/uploads/x", "//Volumes/main/app/uploads/x",
                        "/Volumes//main/app/uploads/x"}) {
    EXPECT_EQ(resolve(p).status, PathStatus::outside_volume) << p;
  }
}

TEST(VolumePath, RootLevelAndNormalisation) {
  EXPECT_EQ(resolve("a.txt").relative, "a.txt");
  EXPECT_EQ(resolve("Volumes/main/app/uploads/x").relative, "Volumes/main/app/uploads/x");  // relative
  auto r = resolve("./a.txt");
  EXPECT_EQ(r.status, PathStatus::ok);
  EXPECT_EQ(r.relative, "a.txt");
  EXPECT_FALSE(r.borrowed);
  EXPECT_EQ(resolve("a//b/./c/").relative, "a/b/c");
  EXPECT_EQ(resolve(".").relative, "");
  EXPECT_EQ(resolve("./").relative, "");
  EXPECT_EQ(resolve("/Volumes/main/app/uploads//./x/").relative, "x");
  EXPECT_EQ(resolve("dir/").relative, "dir");
}
