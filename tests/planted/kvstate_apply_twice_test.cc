// The planted bug apply-twice (engine/planted_bugs.h, kBugApplyTwice) switches off session
// deduplication in KvState. The kvstate dedupe tests must catch it: with the bug a retried
// acquire takes a second slot, without it the retry gets the first answer and one slot.
// This binary links keel_kvstate_planted (compiled with KEEL_PLANTED_BUGS).
#include <string>

#include "engine/planted_bugs.h"
#include "gtest/gtest.h"
#include "kvstate/kv_state.h"
#include "kvstate/model/models.h"

namespace keel::kvstate {
namespace {

kvpb::Result ApplyCommand(KvState& state, Index index, const kvpb::Command& command) {
  kvpb::Result result;
  EXPECT_TRUE(result.ParseFromString(state.Apply(index, command.SerializeAsString())));
  return result;
}

// Registers a session, creates a pool of 4, acquires, then retries the acquire (the client
// never saw the first reply). Returns the pool's busy count and the two answers.
struct RetryOutcome {
  uint64_t busy = 0;
  kvpb::Result first;
  kvpb::Result retry;
};

RetryOutcome RetriedAcquire(KvState& state) {
  kvpb::Command reg;
  reg.mutable_register_session();
  const uint64_t session = ApplyCommand(state, 1, reg).session();
  EXPECT_EQ(session, 1u);
  kvpb::Command create;
  create.set_session(session);
  create.set_sequence(1);
  create.mutable_pool_create()->set_pool("g/p");
  create.mutable_pool_create()->set_capacity(4);
  EXPECT_EQ(ApplyCommand(state, 2, create).code(), kvpb::CODE_OK);
  kvpb::Command acquire;
  acquire.set_session(session);
  acquire.set_sequence(2);
  acquire.set_acked_sequence(1);
  acquire.mutable_pool_acquire()->set_pool("g/p");
  acquire.mutable_pool_acquire()->set_owner("proxy-1");
  RetryOutcome outcome;
  outcome.first = ApplyCommand(state, 3, acquire);
  outcome.retry = ApplyCommand(state, 4, acquire);
  kvpb::Command stats;
  stats.mutable_pool_stats()->set_pool("g/p");
  outcome.busy = ApplyCommand(state, 5, stats).pool().busy();
  return outcome;
}

TEST(KvstateApplyTwiceTest, IsCompiledIn) {
  ASSERT_TRUE(kPlantedBugsCompiledIn) << "planted_bug_test must link keel_kvstate_planted";
  ASSERT_TRUE(PlantedBugByName("apply-twice").has_value());
  EXPECT_EQ(*PlantedBugByName("apply-twice"), kBugApplyTwice);
}

TEST(KvstateApplyTwiceTest, WithoutTheBugARetriedAcquireTakesOneSlot) {
  KvState state;
  const RetryOutcome outcome = RetriedAcquire(state);
  EXPECT_EQ(outcome.busy, 1u);
  EXPECT_EQ(outcome.retry.SerializeAsString(), outcome.first.SerializeAsString());
}

TEST(KvstateApplyTwiceTest, WithTheBugARetriedAcquireTakesTwoSlots) {
  KvState state(KvStateOptions{kBugApplyTwice});
  const RetryOutcome outcome = RetriedAcquire(state);
  // The dedupe check "a retry takes one slot and returns the first answer" fails here: caught.
  EXPECT_EQ(outcome.busy, 2u);
  EXPECT_EQ(outcome.first.slot(), 0u);
  EXPECT_EQ(outcome.retry.slot(), 1u);
}

// The model comparison catches it too: the correct model disagrees with the buggy KvState on
// the retry, and agrees once told to behave like the bug (so the difference is the bug alone).
TEST(KvstateApplyTwiceTest, ModelComparisonCatchesIt) {
  for (const bool model_has_bug : {false, true}) {
    SCOPED_TRACE(model_has_bug);
    KvState state(KvStateOptions{kBugApplyTwice});
    model::StateModel model;
    model.apply_twice = model_has_bug;
    kvpb::Command reg;
    reg.mutable_register_session();
    kvpb::Command create;
    create.set_session(1);
    create.set_sequence(1);
    create.mutable_pool_create()->set_pool("g/p");
    create.mutable_pool_create()->set_capacity(4);
    kvpb::Command acquire;
    acquire.set_session(1);
    acquire.set_sequence(2);
    acquire.mutable_pool_acquire()->set_pool("g/p");
    acquire.mutable_pool_acquire()->set_owner("o");
    bool all_equal = true;
    Index index = 1;
    for (const kvpb::Command* command : {&reg, &create, &acquire, &acquire}) {
      kvpb::Result real = ApplyCommand(state, index, *command);
      kvpb::Result expected = model.Apply(index, command->SerializeAsString());
      ++index;
      real.clear_error();
      expected.clear_error();
      all_equal = all_equal && real.SerializeAsString() == expected.SerializeAsString();
    }
    EXPECT_EQ(all_equal, model_has_bug);
  }
}

}  // namespace
}  // namespace keel::kvstate
