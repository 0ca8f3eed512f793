// Small builders shared by the storage tests (tests/storage/*_test.cc).
#pragma once

#include "engine/raft.pb.h"
#include "engine/types.h"

namespace keel::storagetest {

// A hard state with the given term, vote and commit index.
inline raftpb::HardState Hs(Term term, NodeId vote, Index commit) {
  raftpb::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

}  // namespace keel::storagetest
