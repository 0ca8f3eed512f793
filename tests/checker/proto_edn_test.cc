// FitsEdn: the simulator's workload keeps results as protos and writes their EDN only when
// asked, so it checks with FitsEdn, at every event, what ProtoToEdn would refuse. The two must
// agree on every message: here, for values at and past INT64_MAX in plain, optional, nested
// and repeated fields.
#include "sim/checker/proto_edn.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kvstate/kv.pb.h"

namespace keel::checker {
namespace {

constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

std::vector<kvpb::Result> Results(uint64_t v) {
  std::vector<kvpb::Result> out(6);
  out[0].set_session(v);
  out[1].set_version(v);  // optional
  out[2].mutable_pool()->set_available(v);  // nested
  out[3].add_entries()->set_version(v);  // repeated message
  out[4].add_entries()->set_key("k");
  out[4].add_entries()->set_version(v);  // the second element
  out[5].mutable_pool()->add_owners()->add_slots(v);  // repeated scalar, two levels down
  return out;
}

TEST(ProtoEdn, FitsEdnAgreesWithProtoToEdn) {
  int refused = 0;
  for (const uint64_t v : {uint64_t{0}, uint64_t{1}, kMax - 1, kMax, kMax + 1, std::numeric_limits<uint64_t>::max()}) {
    for (const kvpb::Result& result : Results(v)) {
      SCOPED_TRACE(result.ShortDebugString());
      const absl::Status fits = FitsEdn(result);
      const absl::StatusOr<edn::Value> value = ProtoToEdn(result);
      EXPECT_EQ(fits.ok(), value.ok());
      EXPECT_EQ(fits.ok(), v <= kMax);
      if (!fits.ok()) {
        EXPECT_EQ(fits, value.status());
        ++refused;
      }
    }
  }
  EXPECT_EQ(refused, 12);  // 6 messages x 2 values past INT64_MAX
}

TEST(ProtoEdn, FitsEdnAcceptsCommands) {
  kvpb::Command command;
  command.mutable_pool_acquire()->set_pool("app/pool0");
  command.mutable_pool_acquire()->set_owner("c1");
  EXPECT_TRUE(FitsEdn(command).ok());
  EXPECT_TRUE(ProtoToEdn(command).ok());
}

}  // namespace
}  // namespace keel::checker
