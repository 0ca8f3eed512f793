// The kvstate model compares a predicted and an observed kvpb.Result by their serialized bytes
// (sim/checker/kvstate_model.cc: SameResult). That is equality only while no field of Result,
// however deep, serializes in more than one way for equal values: a map (iteration order) or a
// float (-0.0 and 0.0, NaNs). This test fails the day someone adds one, before a flaky verdict.
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "kvstate/kv.pb.h"

namespace keel::checker {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

void ExpectCanonical(const Descriptor* message, std::set<std::string>* seen) {
  if (!seen->insert(message->full_name()).second) return;
  for (int i = 0; i < message->field_count(); ++i) {
    const FieldDescriptor* field = message->field(i);
    EXPECT_FALSE(field->is_map()) << field->full_name() << " is a map";
    EXPECT_NE(field->cpp_type(), FieldDescriptor::CPPTYPE_FLOAT) << field->full_name();
    EXPECT_NE(field->cpp_type(), FieldDescriptor::CPPTYPE_DOUBLE) << field->full_name();
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) ExpectCanonical(field->message_type(), seen);
  }
}

TEST(KvstateResult, EveryFieldSerializesOneWayForEqualValues) {
  std::set<std::string> seen;
  ExpectCanonical(kvpb::Result::descriptor(), &seen);
  EXPECT_GT(seen.size(), 1u) << "Result's submessages were walked";
  // The simulator's trace hash covers serialized commands too (sim/workload.cc: Record).
  ExpectCanonical(kvpb::Command::descriptor(), &seen);
}

}  // namespace
}  // namespace keel::checker
