#include "kvstate/sessions.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/assert.h"

namespace keel::kvstate {

int64_t Sessions::EffectiveTimeout(int64_t requested_nanos) {
  if (requested_nanos == 0) return kDefaultSessionTimeoutNanos;
  return std::clamp(requested_nanos, kMinSessionTimeoutNanos, kMaxSessionTimeoutNanos);
}

int64_t Sessions::Deadline(const Session& session) {
  KEEL_ASSERT(session.timeout_nanos > 0);
  if (session.last_active_nanos > std::numeric_limits<int64_t>::max() - session.timeout_nanos) {
    return std::numeric_limits<int64_t>::max();
  }
  return session.last_active_nanos + session.timeout_nanos;
}

void Sessions::DropAcknowledged(Session& session) {
  session.cached.erase(session.cached.begin(), session.cached.upper_bound(session.acked));
}

void Sessions::Register(uint64_t id, int64_t requested_timeout_nanos, int64_t now) {
  KEEL_ASSERT(id != 0);
  KEEL_ASSERT(now >= 0);
  Session session;
  session.timeout_nanos = EffectiveTimeout(requested_timeout_nanos);
  session.last_active_nanos = now;
  const auto [it, inserted] = sessions_.emplace(id, std::move(session));
  KEEL_ASSERT(inserted);
  by_deadline_.emplace(Deadline(it->second), id);
}

std::vector<uint64_t> Sessions::ExpireBefore(int64_t now) {
  std::vector<uint64_t> expired;
  while (!by_deadline_.empty() && by_deadline_.begin()->first < now) {
    expired.push_back(by_deadline_.begin()->second);
    by_deadline_.erase(by_deadline_.begin());
  }
  for (const uint64_t id : expired) {
    const size_t erased = sessions_.erase(id);
    KEEL_ASSERT(erased == 1);
  }
  std::sort(expired.begin(), expired.end());
  return expired;
}

void Sessions::Touch(uint64_t id, uint64_t acked_sequence, int64_t now) {
  const auto it = sessions_.find(id);
  KEEL_ASSERT(it != sessions_.end());
  Session& session = it->second;
  KEEL_ASSERT(now >= session.last_active_nanos);  // log time never runs backwards
  const size_t erased = by_deadline_.erase({Deadline(session), id});
  KEEL_ASSERT(erased == 1);
  session.last_active_nanos = now;
  by_deadline_.emplace(Deadline(session), id);
  session.acked = std::max(session.acked, acked_sequence);
  DropAcknowledged(session);
}

uint64_t Sessions::acked(uint64_t id) const {
  const auto it = sessions_.find(id);
  KEEL_ASSERT(it != sessions_.end());
  return it->second.acked;
}

const kvpb::Result* Sessions::FindCached(uint64_t id, uint64_t sequence) const {
  const auto it = sessions_.find(id);
  KEEL_ASSERT(it != sessions_.end());
  const auto cached = it->second.cached.find(sequence);
  return cached == it->second.cached.end() ? nullptr : &cached->second;
}

void Sessions::Cache(uint64_t id, uint64_t sequence, kvpb::Result result) {
  const auto it = sessions_.find(id);
  KEEL_ASSERT(it != sessions_.end());
  Session& session = it->second;
  KEEL_ASSERT(sequence > session.acked);
  session.cached[sequence] = std::move(result);
  if (session.cached.size() > kMaxCachedResults) {
    // Forgetting a result the client may still retry is only safe if the retry can never be
    // applied again: raising the watermark turns it into STALE_SEQUENCE.
    session.acked = session.cached.begin()->first;
    session.cached.erase(session.cached.begin());
  }
  KEEL_ASSERT(session.cached.size() <= kMaxCachedResults);
  KEEL_ASSERT(session.cached.empty() || session.cached.begin()->first > session.acked);
}

void Sessions::Remove(uint64_t id) {
  const auto it = sessions_.find(id);
  KEEL_ASSERT(it != sessions_.end());
  const size_t erased = by_deadline_.erase({Deadline(it->second), id});
  KEEL_ASSERT(erased == 1);
  sessions_.erase(it);
}

void Sessions::AppendTo(kvpb::StateSnapshot* snapshot) const {
  for (const auto& [id, session] : sessions_) {
    kvpb::SessionState* state = snapshot->add_sessions();
    state->set_id(id);
    state->set_timeout_nanos(session.timeout_nanos);
    state->set_last_active_nanos(session.last_active_nanos);
    state->set_acked_sequence(session.acked);
    for (const auto& [sequence, result] : session.cached) {
      kvpb::CachedResult* cached = state->add_results();
      cached->set_sequence(sequence);
      *cached->mutable_result() = result;
    }
  }
}

absl::StatusOr<Sessions> Sessions::FromSnapshot(const kvpb::StateSnapshot& snapshot) {
  const int64_t time = snapshot.time_nanos();
  Sessions sessions;
  uint64_t previous_id = 0;
  for (const kvpb::SessionState& state : snapshot.sessions()) {
    const std::string where = absl::StrCat("session ", state.id(), ": ");
    if (state.id() <= previous_id) {
      return absl::InvalidArgumentError(absl::StrCat(where, "ids not ascending and unique (or 0)"));
    }
    previous_id = state.id();
    if (state.id() > snapshot.applied_index()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "registered after the applied index"));
    }
    if (state.timeout_nanos() < kMinSessionTimeoutNanos || state.timeout_nanos() > kMaxSessionTimeoutNanos) {
      return absl::InvalidArgumentError(absl::StrCat(where, "timeout outside [1 s, 1 h]"));
    }
    if (state.last_active_nanos() < 0 || state.last_active_nanos() > time) {
      return absl::InvalidArgumentError(absl::StrCat(where, "last active outside [0, time]"));
    }
    Session session;
    session.timeout_nanos = state.timeout_nanos();
    session.last_active_nanos = state.last_active_nanos();
    session.acked = state.acked_sequence();
    if (Deadline(session) < time) {
      return absl::InvalidArgumentError(absl::StrCat(where, "expired but still present"));
    }
    if (static_cast<size_t>(state.results_size()) > kMaxCachedResults) {
      return absl::InvalidArgumentError(absl::StrCat(where, "more than ", kMaxCachedResults, " cached results"));
    }
    uint64_t previous_sequence = session.acked;
    for (const kvpb::CachedResult& cached : state.results()) {
      if (cached.sequence() <= previous_sequence) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "cached sequence ", cached.sequence(), " not ascending or not above the watermark"));
      }
      previous_sequence = cached.sequence();
      const kvpb::Code code = cached.result().code();
      if (code == kvpb::CODE_UNSPECIFIED || !kvpb::Code_IsValid(code)) {
        return absl::InvalidArgumentError(absl::StrCat(where, "cached result with unknown code ", code));
      }
      session.cached.emplace_hint(session.cached.end(), cached.sequence(), cached.result());
    }
    sessions.by_deadline_.emplace(Deadline(session), state.id());
    sessions.sessions_.emplace_hint(sessions.sessions_.end(), state.id(), std::move(session));
  }
  return sessions;
}

absl::Status Sessions::CheckConsistency(int64_t now) const {
  if (by_deadline_.size() != sessions_.size()) return absl::InternalError("deadline index size differs");
  for (const auto& [id, session] : sessions_) {
    if (!by_deadline_.contains({Deadline(session), id})) {
      return absl::InternalError(absl::StrCat("session ", id, " missing from the deadline index"));
    }
    if (Deadline(session) < now) return absl::InternalError(absl::StrCat("session ", id, " outlived its deadline"));
    if (session.cached.size() > kMaxCachedResults) return absl::InternalError("too many cached results");
    if (!session.cached.empty() && session.cached.begin()->first <= session.acked) {
      return absl::InternalError(absl::StrCat("session ", id, " caches an acknowledged result"));
    }
  }
  return absl::OkStatus();
}

}  // namespace keel::kvstate
