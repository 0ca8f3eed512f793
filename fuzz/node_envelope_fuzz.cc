// Fuzz target: peer envelopes into a live node (node 1 of three). The input is a sequence of
// frames (two length bytes, then that many bytes each), each decoded as the transport does
// (keel::DecodeEnvelope); frames that decode are delivered with the right cluster id and
// addresses half of the time (so they get past the envelope checks into Raft and the proxy
// code), and each must encode again (keel::Encode, what a node sends) to an equal envelope,
// as must every envelope the node sent.
// Whatever arrives, the node must not crash, and a client request queued behind the frames
// must be answered exactly once by its deadline (whatever state the frames left the node in:
// leader, follower, candidate, stopped).
#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/util/message_differencer.h>

#include "engine/message.h"
#include "fuzz/node_harness.h"

namespace {

// Encoding `envelope` (what a node sends) must parse to the same envelope.
void CheckEncodes(const keel::Envelope& envelope) {
  keel::nodepb::Envelope reparsed;
  keel::fuzz::Check(reparsed.ParseFromString(keel::Encode(envelope)) &&
                        google::protobuf::util::MessageDifferencer::Equals(reparsed, keel::ToProto(envelope)),
                    "Encode does not round-trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using keel::fuzz::Check;
  keel::fuzz::LiveNode live({1, 2, 3});
  const std::string input(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  for (int frame = 0; at + 2 <= input.size() && frame < 128; ++frame) {
    const size_t length = (static_cast<unsigned char>(input[at]) << 8) | static_cast<unsigned char>(input[at + 1]);
    at += 2;
    const std::string bytes = input.substr(at, length);
    at += bytes.size();
    // The production transport's path: decode (the raft body moved out beside the header).
    absl::StatusOr<keel::Envelope> decoded = keel::DecodeEnvelope(bytes);
    if (!decoded.ok()) continue;  // the transport drops it
    keel::nodepb::Envelope& envelope = decoded->header;
    if (frame % 2 == 0) {
      envelope.set_cluster_id(keel::fuzz::kClusterId);
      envelope.set_to(1);
      envelope.set_from(2 + envelope.from() % 2);
      if (decoded->raft) {
        decoded->raft->header.set_to(1);
        decoded->raft->header.set_from(envelope.from());
      }
    }
    CheckEncodes(*decoded);
    live.node->OnEnvelope(std::move(*decoded));
    live.node->Poll();
  }
  // A linearizable read: it needs a leader, so it exercises the waiting, proxying and
  // deadline paths in whatever state the frames left the node.
  auto answers = std::make_shared<int>(0);
  keel::nodepb::Request request;
  request.set_timeout_nanos(300'000'000);
  keel::kvpb::Command get;
  get.mutable_kv_get()->set_key("a/b/c");
  request.set_command(get.SerializeAsString());
  live.node->OnRequest(request, [answers](keel::nodepb::Response) { ++*answers; });
  live.Run(40);  // 400 ms: past the deadline (plus a tick)
  // (Proxied requests among the frames may rightly stay open: their deadlines are fuzzed.)
  Check(*answers == 1, "the node's own client was not answered exactly once by its deadline");
  // And what the node itself sent (appends it built as a leader included).
  for (const keel::Envelope& sent : live.channel.sent) CheckEncodes(sent);
  return 0;
}
