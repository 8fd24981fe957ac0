// The one jwks_file loader shared by the postmaster and the key worker:
// size cap before parsing, the same check as fetched keys, errors that name
// the file and never its content.
#include "core/jwks_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "test_keys.h"

namespace dbx_oauth::core {
namespace {

class JwksFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dbx_oauth_jwks_XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    close(fd);
    path_ = tmpl;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  void write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }
  std::string path_;
};

TEST_F(JwksFile, LoadsUsableKeysAndSkipsWeakOnes) {
  write(nlohmann::json{{"keys", {test::public_jwk(test::rsa2048(), "k1", "RS256"),
                                 test::public_jwk(test::rsa1024(), "weak", "RS256")}}}
            .dump(2));
  JwksCheck c = load_jwks_file(path_, 65536);
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.key_count, 1);
  EXPECT_EQ(c.skipped.size(), 1u);
}

TEST_F(JwksFile, MissingFileNamesThePath) {
  JwksCheck c = load_jwks_file(path_ + ".absent", 65536);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("could not open file"), std::string::npos);
  EXPECT_NE(c.error.find(path_ + ".absent"), std::string::npos);
}

TEST_F(JwksFile, OversizedFileIsRefusedBeforeParsing) {
  // Valid JSON padded past the cap: refused for its size, not parsed.
  std::string doc = nlohmann::json{{"keys", {test::public_jwk(test::rsa2048(), "k1", "RS256")}}}.dump();
  write(doc + std::string(2048, ' '));
  JwksCheck c = load_jwks_file(path_, 65536, 1024);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("larger than 1024 bytes"), std::string::npos);
  EXPECT_TRUE(load_jwks_file(path_, 65536, doc.size() + 2048).ok);
}

TEST_F(JwksFile, GarbageIsRefusedWithoutEchoingIt) {
  write("not-json-SECRET-CONTENT");
  JwksCheck c = load_jwks_file(path_, 65536);
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find(path_), std::string::npos);
  EXPECT_EQ(c.error.find("SECRET-CONTENT"), std::string::npos);
}

}  // namespace
}  // namespace dbx_oauth::core
