// One seeded simulation run of a whole keel cluster (DESIGN.md "Simulation"): the node drivers
// of engine/node.h, unmodified, each in its own fiber with its own simulated disk, talking
// over the simulated network, with clients, a nemesis injecting faults, and the safety
// checkers after every step; then a liveness phase with every fault healed.
//
// Everything is drawn from the seed through independent sub-streams (swarm configuration,
// network, disks, nodes, workload, nemesis), so changing one knob does not reshuffle the rest.
// The same options give the same trace, byte for byte.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace keel::sim {

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 0;                            // 0: drawn from the seed (swarm testing), 1..7
  int clients = 4;
  int64_t safety_nanos = 20'000'000'000;    // virtual time with faults on
  int64_t liveness_nanos = 20'000'000'000;  // virtual time after healing to commit again
  uint32_t planted_bugs = 0;                // engine/planted_bugs.h
  bool faults = true;                       // false: no nemesis (a calm run)
  // false: skip the engine's safety checks (election safety, log matching, durability, ...),
  // so that only the clients' history and the replicas' states judge the run. Shows that the
  // linearizability checker catches engine bugs on its own.
  bool engine_checks = true;
  // Fault classes switched off (bits of FaultClass). They are still drawn from the seed, so
  // every other setting of the run stays the same; only their weight becomes zero.
  uint32_t disabled_faults = 0;
  // Production timing instead of the swarm's (ticks of 2-20 ms, election after 5-20 ticks):
  // etcd's defaults of 100 ms ticks and an election timeout of 10 ticks, LAN latencies, and
  // faults and membership changes 10x further apart. Everything else is drawn as before.
  bool production_timing = false;
  // Fill SimResult::history (keel-sim --history). Off, the history is never written as text:
  // that was a tenth of a run's time.
  bool keep_history = false;
};

enum FaultClass : uint32_t {
  kFaultCrash = 1u << 0,       // crashes and restarts
  kFaultPartition = 1u << 1,   // partitions of every shape, one-way cuts
  kFaultPause = 1u << 2,       // process pauses
  kFaultClog = 1u << 3,        // clogged links, swizzle-clog
  kFaultSlowDisk = 1u << 4,    // fsync latency
  kFaultFsyncError = 1u << 5,  // fsync EIO
  kFaultLoss = 1u << 6,        // message drops and duplicates
  kFaultBitFlip = 1u << 7,     // latent bit flips in durable files, on at most f nodes
  kFaultMembership = 1u << 8,  // membership changes (spare nodes join, members leave) and
                               // leadership transfers, asked of the nodes like an operator
};
struct FaultClassInfo {
  const char* name;
  FaultClass fault;
};
// Every fault class with its command-line name, in a fixed order.
const std::vector<FaultClassInfo>& FaultClasses();

struct SimResult {
  bool passed = false;
  std::string failure;                      // empty if passed
  uint64_t seed = 0;
  int nodes = 0;
  int64_t sim_nanos = 0;
  uint64_t events = 0;
  uint64_t trace_hash = 0;                  // FNV-1a over every trace line (history events: their digest)
  uint64_t leader_changes = 0;
  // Operator actions answered OK: membership changes (add, promote, remove, replace) and
  // leadership transfers; and membership changes the leader refused (FAILED_PRECONDITION).
  uint64_t membership_changes = 0;
  uint64_t membership_refused = 0;
  uint64_t transfers = 0;
  bool lease_reads = false;                 // the seed's nodes served lease reads
  uint64_t lease_reads_served = 0;          // reads the leaders' leases confirmed
  std::map<std::string, uint64_t> faults;   // by kind
  std::map<std::string, uint64_t> client_ops;  // by outcome: ok, fail, info
  // The clients' history (Jepsen EDN, one operation event per line; only with
  // SimOptions::keep_history), its size in operations and the linearizability verdict on it
  // ("" if the run failed before it was checked).
  std::string history;
  uint64_t history_ops = 0;
  std::string history_verdict;
  std::string settings;                     // every derived setting, one "key=value" per line
  // The one-line verdict: key=value pairs (without wall time; the tool adds it).
  std::string VerdictLine() const;
};

// Receives every trace line (virtual time first); may be null.
using TraceSink = std::function<void(const std::string& line)>;

SimResult RunSimulation(const SimOptions& options, const TraceSink& trace);

// A safety-phase length drawn from `seed` alone (1 s to 40 s, log-uniform), for sweeps that
// must cover short and long runs: a failure that needs a long run cannot hide behind one
// fixed length (seed 852 failed only past 5 s).
int64_t SafetyNanosForSeed(uint64_t seed);

}  // namespace keel::sim
