// Which commands only read: get, list and the two stats. One definition for the state machine,
// the node's view of commands, the checker's models and the clients (header-only: it needs
// nothing but the generated kv.pb.h).
#pragma once

#include "kvstate/kv.pb.h"

namespace keel::kvstate {

inline bool IsReadOp(kvpb::Command::OpCase op) {
  return op == kvpb::Command::kKvGet || op == kvpb::Command::kKvList || op == kvpb::Command::kPoolStats ||
         op == kvpb::Command::kLbStats;
}

inline bool IsReadCommand(const kvpb::Command& command) { return IsReadOp(command.op_case()); }

}  // namespace keel::kvstate
