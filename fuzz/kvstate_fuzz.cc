// Fuzz target: kvstate's two decoders, log entries and snapshots. The first byte picks one:
//   even: the rest is a snapshot for Restore, which must refuse it (changing nothing) or
//         accept it and then snapshot to bytes that restore to the same bytes again;
//   odd:  the rest is a sequence of entries (one length byte, then that many bytes each)
//         applied to a fresh KvState and to the sequential model, which must return the same
//         results (error text aside); the state's invariants must hold throughout.
// Neither may ever crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "kvstate/kv_state.h"
#include "kvstate/model/models.h"

namespace {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "kvstate_fuzz: %s\n", what);
  std::abort();
}

void FuzzRestore(const std::string& data) {
  keel::kvstate::KvState state;
  const std::string empty = state.Snapshot();
  if (!state.Restore(data).ok()) {
    Check(state.Snapshot() == empty, "a refused snapshot changed the state");
    return;
  }
  Check(state.CheckInvariants().ok(), "an accepted snapshot breaks an invariant");
  const std::string again = state.Snapshot();
  keel::kvstate::KvState copy;
  Check(copy.Restore(again).ok(), "a snapshot of a restored state does not restore");
  Check(copy.Snapshot() == again, "snapshot -> restore -> snapshot changed the bytes");
}

void FuzzApply(const std::string& data) {
  keel::kvstate::KvState state;
  keel::kvstate::model::StateModel model;
  uint64_t index = 0;
  for (size_t pos = 0; pos < data.size();) {
    const size_t length = static_cast<unsigned char>(data[pos++]);
    const std::string entry = data.substr(pos, length);
    pos += length;
    ++index;
    keel::kvpb::Command command;
    // Leader times near INT64_MAX are legal but make session deadlines saturate; the unit
    // tests cover them. Here they would only mask the rest.
    if (command.ParseFromString(entry) && command.leader_time_nanos() > (int64_t{1} << 62)) continue;
    keel::kvpb::Result got;
    Check(got.ParseFromString(state.Apply(index, entry)), "Apply returned bytes that are not a Result");
    keel::kvpb::Result want = model.Apply(index, entry);
    got.clear_error();
    want.clear_error();
    Check(google::protobuf::util::MessageDifferencer::Equals(got, want), "KvState and the model disagree");
  }
  Check(state.CheckInvariants().ok(), "an invariant broke");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    FuzzRestore(rest);
  } else {
    FuzzApply(rest);
  }
  return 0;
}
