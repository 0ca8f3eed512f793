// Fuzz target: peer envelopes into a live node (node 1 of three). The input is a sequence of
// frames (two length bytes, then that many bytes each), each parsed as a nodepb.Envelope as the
// transport would; frames that parse are delivered with the right cluster id and addresses
// half of the time (so they get past the envelope checks into Raft and the proxy code).
// Whatever arrives, the node must not crash and must answer its own client's request.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/node_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using keel::fuzz::Check;
  keel::fuzz::LiveNode live({1, 2, 3});
  auto answered = std::make_shared<bool>(false);
  keel::nodepb::Request request;
  request.set_timeout_nanos(300'000'000);
  request.mutable_status();
  live.node->OnRequest(request, [answered](keel::nodepb::Response) { *answered = true; });
  const std::string input(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  for (int frame = 0; at + 2 <= input.size() && frame < 128; ++frame) {
    const size_t length = (static_cast<unsigned char>(input[at]) << 8) | static_cast<unsigned char>(input[at + 1]);
    at += 2;
    const std::string bytes = input.substr(at, length);
    at += bytes.size();
    keel::nodepb::Envelope envelope;
    if (!envelope.ParseFromString(bytes)) continue;  // the transport drops it
    if (frame % 2 == 0) {
      envelope.set_cluster_id(keel::fuzz::kClusterId);
      envelope.set_to(1);
      envelope.set_from(2 + envelope.from() % 2);
      if (envelope.has_raft()) {
        envelope.mutable_raft()->set_to(1);
        envelope.mutable_raft()->set_from(envelope.from());
      }
    }
    live.node->OnEnvelope(envelope);
    live.node->Poll();
  }
  live.Run(40);
  Check(*answered, "the node's own client got no answer");
  return 0;
}
