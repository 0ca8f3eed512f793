// Fuzz target: client request decoding and dispatch into a live node (the leader of a
// one-node cluster). The input is a sequence of requests (two length bytes, then that many
// bytes each); each is parsed as a nodepb.Request, or, if it does not parse, sent as the
// command of one. Every request must be answered exactly once, before its deadline plus a tick,
// with a code from node.proto, and the node must never crash or stop.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/node_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using keel::fuzz::Check;
  keel::fuzz::LiveNode live({1});
  live.Run(10);  // elected
  const std::string input(reinterpret_cast<const char*>(data), size);
  size_t at = 0;
  int sent = 0;
  auto answers = std::make_shared<int>(0);
  while (at + 2 <= input.size() && sent < 64) {
    const size_t length = (static_cast<unsigned char>(input[at]) << 8) | static_cast<unsigned char>(input[at + 1]);
    at += 2;
    const std::string bytes = input.substr(at, length);
    at += bytes.size();
    keel::nodepb::Request request;
    if (!request.ParseFromString(bytes)) request.set_command(bytes);
    // Keep the run short: the node allows up to 60 s, the fuzzer has no time for it.
    if (request.timeout_nanos() <= 0 || request.timeout_nanos() > 500'000'000) request.set_timeout_nanos(500'000'000);
    ++sent;
    live.node->OnRequest(request, [answers](keel::nodepb::Response response) {
      Check(keel::nodepb::Code_IsValid(response.code()) && response.code() != keel::nodepb::CODE_UNSPECIFIED,
            "an answer without a valid code");
      ++*answers;
    });
    live.node->Poll();
  }
  live.Run(60);  // every deadline passes
  Check(*answers == sent, "a request was not answered exactly once by its deadline");
  Check(live.node->failed().ok(), "client input stopped the node");
  Check(live.node->open_calls() == 0, "calls left open after their deadlines");
  return 0;
}
