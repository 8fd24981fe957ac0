#include "core/setting_list.h"

#include <gtest/gtest.h>

using dbx_oauth::core::split_setting_list;

TEST(SettingList, SplitsTrimsAndDropsEmptyItems) {
  EXPECT_EQ(split_setting_list(" a, b ,,\tc,"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(SettingList, EmptyAndBlankValuesGiveNoItems) {
  EXPECT_TRUE(split_setting_list("").empty());
  EXPECT_TRUE(split_setting_list(" , ,").empty());
}

TEST(SettingList, RepeatsCountOnceInFirstOrder) {
  EXPECT_EQ(split_setting_list("x,y,x"), (std::vector<std::string>{"x", "y"}));
}

TEST(SettingList, InnerBlanksAreKept) {
  EXPECT_EQ(split_setting_list("all apis"), (std::vector<std::string>{"all apis"}));
}
