// The nemesis of a simulation run: crashes and restarts, partitions of every shape, pauses,
// clogs, slow and failing fsyncs, and latent bit flips, each drawn from the seed with the run's
// swarm weights.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sim/simulation_internal.h"

namespace keel::sim::internal {

void Simulation::NemesisMain() {
  const double total = crash_weight_ + partition_weight_ + pause_weight_ + clog_weight_ +
                       slow_disk_weight_ + fsync_error_weight_ + bit_flip_weight_;
  if (total <= 0) return;
  while (!safety_over_ && !failed_) {
    const double u = nemesis_prng_.NextDouble();
    scheduler_.Sleep(static_cast<int64_t>(-static_cast<double>(nemesis_mean_interval_) * std::log(1.0 - u)) + 1);
    if (safety_over_ || failed_) return;
    double pick = nemesis_prng_.NextDouble() * total;
    // Faults hit the members the operator runs (the initial voters unless membership changes),
    // and the f budget follows the voters it last saw, counting the members being changed.
    const NodeId victim = members_[nemesis_prng_.Uniform(members_.size())];
    Node& node = nodes_.at(victim);
    const int max_down = static_cast<int>(KnownVoterCount() - 1) / 2;
    int down = changing_;
    for (NodeId id : members_) down += nodes_.at(id).up ? 0 : 1;
    if ((pick -= crash_weight_) < 0) {
      if (!node.up) {
        StartNode(victim);
        ++result_.faults["restart"];
      } else if (down < max_down || nemesis_prng_.Uniform(4) == 0) {
        CrashNode(victim);
        ++result_.faults["crash"];
        const int64_t delay = static_cast<int64_t>(nemesis_prng_.Uniform(2000)) * kMillis;
        // Restart from a fiber: recovery may fsync, and a slow disk makes fsync sleep.
        scheduler_.Spawn(absl::StrCat("restart-", victim), [this, victim, delay]() {
          scheduler_.Sleep(delay);
          if (!safety_over_ && !failed_ && !nodes_.at(victim).up) {
            StartNode(victim);
            ++result_.faults["restart"];
          }
        });
      }
    } else if ((pick -= partition_weight_) < 0) {
      const uint64_t kind = nemesis_prng_.Uniform(7);
      if (kind == 0) {
        network_->HealAll();
        Trace("nemesis heal");
        ++result_.faults["heal"];
      } else if (kind == 1) {
        std::set<NodeId> a;
        std::set<NodeId> b;
        for (NodeId id : members_) (nemesis_prng_.Uniform(2) ? a : b).insert(id);
        network_->Partition({a, b});
        Trace(absl::StrCat("nemesis partition {", absl::StrJoin(a, ","), "} {", absl::StrJoin(b, ","), "}"));
        ++result_.faults["partition"];
      } else if (kind == 2) {
        const NodeId leader = KnownLeader() != kNoNode ? KnownLeader() : victim;
        std::set<NodeId> rest;
        for (NodeId id : members_) {
          if (id != leader) rest.insert(id);
        }
        network_->Partition({{leader}, rest});
        Trace(absl::StrCat("nemesis isolate leader ", leader));
        ++result_.faults["isolate_leader"];
      } else if (kind == 3) {
        const NodeId other = members_[nemesis_prng_.Uniform(members_.size())];
        if (other != victim) network_->Cut(victim, other);
        Trace(absl::StrCat("nemesis one-way cut ", victim, "->", other));
        ++result_.faults["one_way_cut"];
      } else if (kind == 4) {
        // Majority ring: each node hears only its two neighbours (a shuffled ring).
        std::vector<NodeId> ring = members_;
        for (size_t i = ring.size(); i > 1; --i) std::swap(ring[i - 1], ring[nemesis_prng_.Uniform(i)]);
        network_->HealAll();
        for (size_t i = 0; i < ring.size(); ++i) {
          for (size_t j = 0; j < ring.size(); ++j) {
            const size_t distance = (i + ring.size() - j) % ring.size();
            if (i != j && distance != 1 && distance != ring.size() - 1) network_->Cut(ring[i], ring[j]);
          }
        }
        Trace(absl::StrCat("nemesis ring ", absl::StrJoin(ring, "-")));
        ++result_.faults["ring"];
      } else if (kind == 5) {
        // Bridge: two halves that only one node (the bridge) can talk to both of.
        std::set<NodeId> a;
        std::set<NodeId> b;
        for (NodeId id : members_) {
          if (id != victim) (nemesis_prng_.Uniform(2) ? a : b).insert(id);
        }
        network_->HealAll();
        for (NodeId x : a) {
          for (NodeId y : b) {
            network_->Cut(x, y);
            network_->Cut(y, x);
          }
        }
        Trace(absl::StrCat("nemesis bridge ", victim, " between {", absl::StrJoin(a, ","), "} {",
                           absl::StrJoin(b, ","), "}"));
        ++result_.faults["bridge"];
      } else {
        // Swizzle-clog (FoundationDB): clog nodes one by one, then unclog in another order.
        std::vector<NodeId> order = members_;
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[nemesis_prng_.Uniform(i)]);
        std::vector<NodeId> unclog = order;
        for (size_t i = unclog.size(); i > 1; --i) std::swap(unclog[i - 1], unclog[nemesis_prng_.Uniform(i)]);
        const int64_t step = static_cast<int64_t>(1 + nemesis_prng_.Uniform(200)) * kMillis;
        Trace(absl::StrCat("nemesis swizzle clog ", absl::StrJoin(order, ","), " unclog ", absl::StrJoin(unclog, ",")));
        ++result_.faults["swizzle"];
        scheduler_.Spawn("swizzle", [this, order, unclog, step]() {
          auto all_links = [this](NodeId id, bool clog) {
            for (NodeId other : members_) {
              if (other == id) continue;
              if (clog) {
                network_->Clog(id, other);
                network_->Clog(other, id);
              } else {
                network_->Unclog(id, other);
                network_->Unclog(other, id);
              }
            }
          };
          for (NodeId id : order) {
            if (safety_over_) return;
            all_links(id, true);
            scheduler_.Sleep(step);
          }
          for (NodeId id : unclog) {
            if (safety_over_) return;
            all_links(id, false);
            scheduler_.Sleep(step);
          }
        });
      }
    } else if ((pick -= pause_weight_) < 0) {
      node.paused_until = scheduler_.now() + static_cast<int64_t>(nemesis_prng_.Uniform(3000)) * kMillis;
      Trace(absl::StrCat("nemesis pause node ", victim, " until ", node.paused_until));
      ++result_.faults["pause"];
    } else if ((pick -= clog_weight_) < 0) {
      const NodeId other = members_[nemesis_prng_.Uniform(members_.size())];
      if (nemesis_prng_.Uniform(2) == 0) {
        network_->Clog(victim, other);
        Trace(absl::StrCat("nemesis clog ", victim, "->", other));
        ++result_.faults["clog"];
      } else {
        network_->Unclog(victim, other);
        Trace(absl::StrCat("nemesis unclog ", victim, "->", other));
      }
    } else if ((pick -= slow_disk_weight_) < 0) {
      node.sync_latency = static_cast<int64_t>(nemesis_prng_.Uniform(50)) * kMillis;
      Trace(absl::StrCat("nemesis fsync latency node ", victim, " ", node.sync_latency / kMillis, "ms"));
      ++result_.faults["slow_disk"];
    } else if ((pick -= bit_flip_weight_) < 0) {
      FlipABit(victim);
    } else {
      // One failing fsync: the node must stop rather than carry on (fsyncgate).
      node.fs->faults().sync_failure_probability = 1.0;
      scheduler_.At(scheduler_.now() + tick_nanos_ * 3, [this, victim]() {
        nodes_.at(victim).fs->faults().sync_failure_probability = 0;
      });
      Trace(absl::StrCat("nemesis fsync errors node ", victim));
      ++result_.faults["fsync_error"];
    }
  }
}

void Simulation::FlipABit(NodeId victim) {
  // At most f nodes ever damaged: a quorum of intact disks always remains.
  const size_t max_damaged = (KnownVoterCount() - 1) / 2;
  if (!damaged_.contains(victim) && damaged_.size() >= max_damaged) return;
  Node& node = nodes_.at(victim);
  std::vector<std::pair<std::string, uint64_t>> files;  // path, size
  for (const char* dir : {"/keel/wal", "/keel/snap"}) {
    absl::StatusOr<std::vector<std::string>> names = node.fs->List(dir);
    if (!names.ok()) continue;
    for (const std::string& name : *names) {
      std::string path = JoinPath(dir, name);
      const uint64_t size = node.fs->Contents(path).size();
      if (size > 0) files.emplace_back(std::move(path), size);
    }
  }
  if (files.empty()) return;
  std::sort(files.begin(), files.end());  // List order is the file system's, not ours
  const auto& [path, size] = files[nemesis_prng_.Uniform(files.size())];
  const uint64_t offset = nemesis_prng_.Uniform(size);
  node.fs->CorruptByte(path, offset);
  damaged_.insert(victim);
  Trace(absl::StrCat("nemesis bit flip node ", victim, " ", path, " offset ", offset));
  ++result_.faults["bit_flip"];
}

}  // namespace keel::sim::internal
