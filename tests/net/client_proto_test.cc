// net/client.proto promises that its Request/Response are engine/node.proto's, field for
// field, with the command and result typed. These tests hold it to that in both directions,
// so the public contract and what the node decodes cannot drift apart.
#include "engine/node.pb.h"
#include "gtest/gtest.h"
#include "net/client.pb.h"

namespace keel {
namespace {

TEST(ClientProtoTest, ClientRequestDecodesAsNodeRequest) {
  client::Request request;
  request.set_id(42);
  request.set_timeout_nanos(123);
  request.set_read_mode(nodepb::READ_STALE);
  request.set_cluster_id(7);
  request.mutable_command()->set_session(3);
  request.mutable_command()->mutable_kv_get()->set_key("a/b/c");
  nodepb::Request node;
  ASSERT_TRUE(node.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(node.id(), 42u);
  EXPECT_EQ(node.timeout_nanos(), 123);
  EXPECT_EQ(node.read_mode(), nodepb::READ_STALE);
  EXPECT_EQ(node.cluster_id(), 7u);
  ASSERT_EQ(node.body_case(), nodepb::Request::kCommand);
  EXPECT_EQ(node.command(), request.command().SerializeAsString());

  client::Request status;
  status.mutable_status();
  ASSERT_TRUE(node.ParseFromString(status.SerializeAsString()));
  EXPECT_EQ(node.body_case(), nodepb::Request::kStatus);
  client::Request transfer;
  transfer.mutable_transfer_leader()->set_target(3);
  ASSERT_TRUE(node.ParseFromString(transfer.SerializeAsString()));
  EXPECT_EQ(node.transfer_leader().target(), 3u);
  client::Request member;
  nodepb::MemberChange::Change* add = member.mutable_member_change()->add_changes();
  add->set_type(nodepb::MEMBER_ADD_LEARNER);
  add->set_node(4);
  add->mutable_info()->set_raft_address("127.0.0.1:7004");
  ASSERT_TRUE(node.ParseFromString(member.SerializeAsString()));
  ASSERT_EQ(node.body_case(), nodepb::Request::kMemberChange);
  EXPECT_EQ(node.member_change().changes(0).node(), 4u);
  EXPECT_EQ(node.member_change().changes(0).info().raft_address(), "127.0.0.1:7004");
}

TEST(ClientProtoTest, NodeResponseDecodesAsClientResponse) {
  kvpb::Result result;
  result.set_code(kvpb::CODE_OK);
  result.set_slot(0);
  result.set_backend("db-1");
  nodepb::Response node;
  node.set_id(9);
  node.set_code(nodepb::CODE_DEADLINE_EXCEEDED);
  node.set_error("late");
  node.set_leader_hint(2);
  node.set_served_by(3);
  node.set_result(result.SerializeAsString());
  node.mutable_status()->set_term(5);
  client::Response response;
  ASSERT_TRUE(response.ParseFromString(node.SerializeAsString()));
  EXPECT_EQ(response.id(), 9u);
  EXPECT_EQ(response.code(), nodepb::CODE_DEADLINE_EXCEEDED);
  EXPECT_EQ(response.error(), "late");
  EXPECT_EQ(response.leader_hint(), 2u);
  EXPECT_EQ(response.served_by(), 3u);
  EXPECT_TRUE(response.result().has_slot());
  EXPECT_EQ(response.result().backend(), "db-1");
  EXPECT_EQ(response.status().term(), 5u);
  // And back: the typed form re-encodes to bytes the node form reads the same way.
  nodepb::Response again;
  ASSERT_TRUE(again.ParseFromString(response.SerializeAsString()));
  EXPECT_EQ(again.result(), result.SerializeAsString());
}

// Every field of the node forms has a twin of the same number and name in the client forms.
TEST(ClientProtoTest, EveryFieldHasATwin) {
  const auto check = [](const google::protobuf::Descriptor* node, const google::protobuf::Descriptor* client) {
    ASSERT_EQ(node->field_count(), client->field_count()) << node->full_name();
    for (int i = 0; i < node->field_count(); ++i) {
      const google::protobuf::FieldDescriptor* field = node->field(i);
      const google::protobuf::FieldDescriptor* twin = client->FindFieldByNumber(field->number());
      ASSERT_NE(twin, nullptr) << field->full_name();
      EXPECT_EQ(twin->name(), field->name());
      EXPECT_EQ(twin->is_repeated(), field->is_repeated());
      const bool typed_bytes = field->type() == google::protobuf::FieldDescriptor::TYPE_BYTES &&
                               twin->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE;
      EXPECT_TRUE(typed_bytes || twin->type() == field->type()) << field->full_name();
    }
  };
  check(nodepb::Request::descriptor(), client::Request::descriptor());
  check(nodepb::Response::descriptor(), client::Response::descriptor());
}

}  // namespace
}  // namespace keel
