#include "mambo/catalog.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace mambo {
namespace {

TEST(Catalog, HasTwentyFiveUniqueTypesInSixCategoriesAndTenGroups) {
  const auto& catalog = EventCatalog();
  ASSERT_EQ(catalog.size(), 25u);
  for (const EventType& notice : NoticeTypes()) {
    EXPECT_EQ(FindEventType(notice.id), nullptr) << "notices are not in the product catalog";
    EXPECT_EQ(FindSubscribableType(notice.id), &notice);
  }
  EXPECT_EQ(NoticeTypes().size(), 3u);
  EXPECT_EQ(FindSubscribableType("device.enroll"), FindEventType("device.enroll"));
  EXPECT_EQ(FindSubscribableType(kTestEventType), nullptr);
  EXPECT_EQ(SubscribableCount(), 28u);
  ASSERT_EQ(SubscribableCategories().size(), 7u);
  EXPECT_EQ(SubscribableCategories().back().name, "Operational notices");
  EXPECT_EQ(SubscribableCategories().back().groups.at(0).events.size(), 3u);
  std::set<std::string_view> ids, categories, groups;
  for (const auto& t : catalog) {
    ids.insert(t.id);
    categories.insert(t.category);
    groups.insert(t.group);
  }
  EXPECT_EQ(ids.size(), 25u);
  EXPECT_EQ(categories.size(), 6u);
  EXPECT_EQ(groups.size(), 10u);
  ASSERT_EQ(EventCategories().size(), 6u);
  size_t group_count = 0, event_count = 0;
  for (const auto& c : EventCategories()) {
    group_count += c.groups.size();
    for (const auto& g : c.groups) event_count += g.events.size();
  }
  EXPECT_EQ(group_count, 10u);
  EXPECT_EQ(event_count, 25u);
}

TEST(Catalog, DocumentOrderStartsWithTeamAndEndsWithAccessToken) {
  EXPECT_EQ(EventCatalog().front().id, "team.update");
  EXPECT_EQ(EventCatalog().back().id, "access_token.delete");
  EXPECT_EQ(EventCategories().front().name, "Team Management");
  EXPECT_EQ(EventCategories().back().name, "API and Integration");
}

TEST(Catalog, UnknownIdsAreNotFound) {
  EXPECT_EQ(FindEventType("device.explode"), nullptr);
  EXPECT_EQ(FindEventType(""), nullptr);
  EXPECT_EQ(FindEventType("Device.Enroll"), nullptr);
  EXPECT_EQ(FindEventType(kTestEventType), nullptr);
}

}  // namespace
}  // namespace mambo
