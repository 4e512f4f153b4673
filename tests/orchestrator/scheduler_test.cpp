#include <gtest/gtest.h>

#include "orchestrator/scheduler.h"

using csweep::orchestrator::ScheduledShard;
using csweep::orchestrator::Scheduler;
using csweep::orchestrator::ShardState;

namespace {
// 6 shards over 3 prompts; cost decreasing with id except shard 4 (the costliest).
std::vector<ScheduledShard> shards() {
  return {{0, 0, 10, 4}, {1, 0, 9, 4}, {2, 1, 8, 4}, {3, 1, 7, 4}, {4, 2, 50, 4}, {5, 2, 1, 4}};
}
}  // namespace

TEST(Scheduler, CostliestFirstThenSamePromptAsLastShard) {
  Scheduler s(shards(), {});
  EXPECT_EQ(*s.next_for(1), 4u);  // costliest overall
  EXPECT_EQ(*s.next_for(1), 5u);  // same prompt (2) as its last shard, though cheapest
  EXPECT_EQ(*s.next_for(2), 0u);  // new worker: costliest pending
  EXPECT_EQ(*s.next_for(1), 1u);  // prompt 2 exhausted: costliest overall
  EXPECT_EQ(s.outstanding(1), 3);
  EXPECT_EQ(s.pending(), 2);
}

TEST(Scheduler, ResumeSkipsDoneShardsAndCountsThem) {
  Scheduler s(shards(), {0, 0, 0, 0, 1, 0});
  EXPECT_EQ(s.done_count(), 1);
  EXPECT_EQ(s.cells_done(), 4);
  EXPECT_EQ(*s.next_for(1), 0u);
}

TEST(Scheduler, LostWorkerShardsAreReissuedAndLateDoneCountsOnce) {
  Scheduler s(shards(), {});
  const uint32_t a = *s.next_for(1), b = *s.next_for(1);
  auto back = s.lose_worker(1);
  EXPECT_EQ(back.size(), 2u);
  EXPECT_EQ(s.reissued(), 2);
  EXPECT_EQ(s.state(a), ShardState::Pending);
  EXPECT_EQ(*s.next_for(2), a);  // costliest again
  EXPECT_TRUE(s.done(1, b));     // the "lost" worker was only slow: accepted once
  EXPECT_FALSE(s.done(2, b));
  EXPECT_TRUE(s.done(2, a));
  EXPECT_FALSE(s.done(1, a));
  EXPECT_EQ(s.done_count(), 2);
  while (auto n = s.next_for(3)) s.done(3, *n);
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.done_count(), 6);
  EXPECT_EQ(s.cells_done(), 24);
}

TEST(Scheduler, FailedShardIsNotRetriedAndTheSweepFinishes) {
  Scheduler s(shards(), {});
  while (auto n = s.next_for(1)) {
    if (*n == 2)
      s.failed(1, *n);
    else
      s.done(1, *n);
  }
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.failed_count(), 1);
  EXPECT_EQ(s.state(2), ShardState::Failed);
}

TEST(Scheduler, SubsetOfShardsForASliceIgnoresTheOthers) {
  auto all = shards();
  std::vector<ScheduledShard> slice;  // --slice 1/2: ids 1, 3, 5
  for (const auto& s : all)
    if (s.id % 2 == 1) slice.push_back(s);
  Scheduler s(slice, {0, 0, 0, 1, 0, 0});  // shard 3 already in the store
  EXPECT_EQ(s.total(), 3);
  EXPECT_EQ(s.done_count(), 1);
  EXPECT_FALSE(s.in_scope(0));
  EXPECT_FALSE(s.done(1, 0));  // a shard of another slice is never marked
  EXPECT_FALSE(s.failed(1, 4));
  std::vector<uint32_t> got;
  while (auto n = s.next_for(1)) {
    got.push_back(*n);
    s.done(1, *n);
  }
  EXPECT_EQ(got, (std::vector<uint32_t>{1, 5}));
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.done_count(), 3);
  EXPECT_EQ(s.cells_total(), 12);
}

TEST(Scheduler, FailedShardIsRetriedUpToMaxRetriesThenFails) {
  Scheduler s(shards(), {}, /*max_retries=*/2);
  int failures = 0;
  while (auto n = s.next_for(1)) {
    if (*n != 2) {
      s.done(1, *n);
      continue;
    }
    const bool final = s.failed(1, *n);
    ++failures;
    EXPECT_EQ(final, failures == 3) << failures;
    EXPECT_EQ(s.attempts(2), failures);
  }
  EXPECT_EQ(failures, 3);  // the first run and two retries
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.failed_count(), 1);
  EXPECT_EQ(s.done_count(), 5);
}

// A stage's shards (orchestrator/stages.h) wait until released; the run is not finished while
// any wait; a stage that can never run fails its held shards for good.
TEST(Scheduler, HeldShardsWaitForReleaseAndCanFailForGood) {
  Scheduler s(shards(), {0, 0, 0, 0, 0, 1});
  s.hold({0, 0, 1, 1, 1, 1});  // 5 is already done: nothing to hold
  EXPECT_EQ(s.held(), 3);
  EXPECT_EQ(s.pending(), 2);
  EXPECT_EQ(*s.next_for(1), 0u);
  EXPECT_EQ(*s.next_for(1), 1u);
  EXPECT_FALSE(s.next_for(1));  // the costliest (4) is held
  EXPECT_FALSE(s.done(1, 4));   // a held shard cannot be reported done
  s.done(1, 0);
  s.done(1, 1);
  EXPECT_FALSE(s.finished());
  s.release({4, 2});
  EXPECT_EQ(s.held(), 1);
  EXPECT_EQ(*s.next_for(2), 4u);
  EXPECT_EQ(*s.next_for(2), 2u);
  s.done(2, 4);
  s.done(2, 2);
  EXPECT_FALSE(s.finished());
  EXPECT_EQ(s.fail_held({3, 4}), 1);  // 4 is done already
  EXPECT_EQ(s.state(3), ShardState::Failed);
  EXPECT_EQ(s.failed_count(), 1);
  EXPECT_TRUE(s.finished());
}
