// Identity classification and role matching (src/core/identity.h).
#include "core/identity.h"

#include <gtest/gtest.h>

using namespace dbx_oauth::core;

TEST(Identity, TypeNamesAndParsing) {
  EXPECT_STREQ(identity_type_name(IdentityType::user), "USER");
  EXPECT_STREQ(identity_type_name(IdentityType::service_principal), "SERVICE_PRINCIPAL");
  EXPECT_STREQ(identity_type_name(IdentityType::group), "GROUP");
  EXPECT_EQ(parse_identity_type("USER"), IdentityType::user);
  EXPECT_EQ(parse_identity_type("user"), IdentityType::user);
  EXPECT_EQ(parse_identity_type("Service_Principal"), IdentityType::service_principal);
  EXPECT_EQ(parse_identity_type("group"), IdentityType::group);
  EXPECT_FALSE(parse_identity_type("SERVICE PRINCIPAL"));
  EXPECT_FALSE(parse_identity_type("sp"));
  EXPECT_FALSE(parse_identity_type(""));
  EXPECT_FALSE(parse_identity_type("USER "));
}

TEST(Identity, LooksLikeUuid) {
  EXPECT_TRUE(looks_like_uuid("6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"));
  EXPECT_TRUE(looks_like_uuid("6F8A1C2E-3B4D-4E5F-8A9B-0C1D2E3F4A5B"));
  EXPECT_FALSE(looks_like_uuid("6f8a1c2e3b4d4e5f8a9b0c1d2e3f4a5b"));
  EXPECT_FALSE(looks_like_uuid("6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5"));
  EXPECT_FALSE(looks_like_uuid("6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5g"));
  EXPECT_FALSE(looks_like_uuid("{6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5}"));
  EXPECT_FALSE(looks_like_uuid(""));
}

TEST(Identity, LooksLikeEmail) {
  EXPECT_TRUE(looks_like_email("alice@example.com"));
  EXPECT_TRUE(looks_like_email("first.last+tag@sub.example.co.uk"));
  EXPECT_FALSE(looks_like_email("alice"));
  EXPECT_FALSE(looks_like_email("@example.com"));
  EXPECT_FALSE(looks_like_email("alice@"));
  EXPECT_FALSE(looks_like_email("alice@localhost"));
  EXPECT_FALSE(looks_like_email("alice@@example.com"));
  EXPECT_FALSE(looks_like_email("a@b@example.com"));
  EXPECT_FALSE(looks_like_email("alice @example.com"));
  EXPECT_FALSE(looks_like_email("alice@example.com."));
  EXPECT_FALSE(looks_like_email("alice@.com"));
}

TEST(Identity, FoldLowercasesOnlyUsers) {
  EXPECT_EQ(fold_identity("Alice@Example.COM", IdentityType::user), "alice@example.com");
  EXPECT_EQ(fold_identity("Data Engineers", IdentityType::group), "Data Engineers");
  EXPECT_EQ(fold_identity("6F8A1C2E-3B4D-4E5F-8A9B-0C1D2E3F4A5B", IdentityType::service_principal),
            "6F8A1C2E-3B4D-4E5F-8A9B-0C1D2E3F4A5B");
  // Non-ASCII bytes are left alone (ASCII folding only).
  EXPECT_EQ(fold_identity("J\xc3\x96RG@EXAMPLE.COM", IdentityType::user), "j\xc3\x96rg@example.com");
}

TEST(Identity, MatchesRole) {
  EXPECT_TRUE(identity_matches_role("Alice@Example.com", IdentityType::user, "alice@example.com"));
  EXPECT_FALSE(identity_matches_role("alice@example.com", IdentityType::user, "alice@example.co"));
  EXPECT_FALSE(identity_matches_role("bob@example.com", IdentityType::user, "alice@example.com"));
  EXPECT_TRUE(identity_matches_role("6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", IdentityType::service_principal,
                                    "6F8A1C2E-3B4D-4E5F-8A9B-0C1D2E3F4A5B"));
  EXPECT_FALSE(identity_matches_role("6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", IdentityType::service_principal,
                                     "6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5c"));
  EXPECT_TRUE(identity_matches_role("Data Engineers", IdentityType::group, "Data Engineers"));
  EXPECT_FALSE(identity_matches_role("data engineers", IdentityType::group, "Data Engineers"));
}

TEST(Identity, ClassifyTokenIdentity) {
  EXPECT_EQ(classify_token_identity("alice@example.com"), IdentityType::user);
  EXPECT_EQ(classify_token_identity("6f8a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"), IdentityType::service_principal);
  EXPECT_FALSE(classify_token_identity("alice"));
  EXPECT_FALSE(classify_token_identity(""));
  EXPECT_FALSE(classify_token_identity("alice@example.com\n"));
  EXPECT_FALSE(classify_token_identity(std::string(300, 'a') + "@example.com"));
}
