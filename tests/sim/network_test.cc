// Network: latency, reordering, drops, duplicates, cuts, partitions, clogs, detach, counters
// and determinism for a fixed seed.
#include "sim/network.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace keel::sim {
namespace {

constexpr int64_t kForever = INT64_MAX;

struct Delivery {
  int64_t time;
  NodeId from;
  NodeId to;
  uint64_t id;  // carried in Message.index
};

// A scheduler, a network and nodes 1..n that record what they receive.
class NetworkTest : public ::testing::Test {
 protected:
  void Build(NetworkOptions options, uint64_t seed = 1, int nodes = 3) {
    network_ = std::make_unique<Network>(scheduler_, Prng(seed), options);
    for (NodeId id = 1; id <= static_cast<NodeId>(nodes); ++id) AttachRecorder(id);
  }

  void AttachRecorder(NodeId id) {
    network_->Attach(id, [this](const Envelope& e) {
      const nodepb::Envelope& m = e.header;
      deliveries_.push_back({scheduler_.now(), m.from(), m.to(), e.raft->header.index()});
    });
  }

  void Send(NodeId from, NodeId to, uint64_t id) {
    nodepb::Envelope m;
    m.set_from(from);
    m.set_to(to);
    m.mutable_raft()->set_index(id);
    network_->Send(FromProto(std::move(m)));
  }

  // Which of from->to arrived, as "from>to" strings in arrival order.
  std::vector<std::string> Links() const {
    std::vector<std::string> out;
    for (const Delivery& d : deliveries_) out.push_back(absl::StrCat(d.from, ">", d.to));
    return out;
  }

  // Sends one message over every ordered pair of nodes 1..n and runs the scheduler.
  std::set<std::string> Reachable(int nodes) {
    deliveries_.clear();
    for (NodeId a = 1; a <= static_cast<NodeId>(nodes); ++a) {
      for (NodeId b = 1; b <= static_cast<NodeId>(nodes); ++b) {
        if (a != b) Send(a, b, 0);
      }
    }
    scheduler_.Run(kForever);
    const std::vector<std::string> links = Links();
    return std::set<std::string>(links.begin(), links.end());
  }

  Scheduler scheduler_;
  std::unique_ptr<Network> network_;
  std::vector<Delivery> deliveries_;
};

NetworkOptions Fixed(int64_t latency) {
  NetworkOptions options;
  options.min_latency_nanos = latency;
  options.mean_tail_nanos = 0;
  return options;
}

TEST_F(NetworkTest, FixedLatencyDeliversInSendOrderAtSendTimePlusLatency) {
  Build(Fixed(1000));
  Send(1, 2, 1);
  Send(1, 2, 2);
  scheduler_.At(500, [this] { Send(2, 1, 3); });
  scheduler_.Run(kForever);
  ASSERT_EQ(deliveries_.size(), 3u);
  EXPECT_EQ(deliveries_[0].time, 1000);
  EXPECT_EQ(deliveries_[0].id, 1u);
  EXPECT_EQ(deliveries_[1].time, 1000);
  EXPECT_EQ(deliveries_[1].id, 2u);
  EXPECT_EQ(deliveries_[2].time, 1500);
  EXPECT_EQ(deliveries_[2].from, 2u);
  EXPECT_EQ(deliveries_[2].to, 1u);
  EXPECT_EQ(network_->sent(), 3u);
  EXPECT_EQ(network_->delivered(), 3u);
  EXPECT_EQ(network_->dropped(), 0u);
}

TEST_F(NetworkTest, LatencyIsTheMinimumPlusAnExponentialTail) {
  NetworkOptions options;
  options.min_latency_nanos = 200'000;
  options.mean_tail_nanos = 800'000;
  Build(options);
  constexpr int kMessages = 10'000;
  for (int i = 0; i < kMessages; ++i) Send(1, 2, static_cast<uint64_t>(i));
  scheduler_.Run(kForever);
  ASSERT_EQ(deliveries_.size(), static_cast<size_t>(kMessages));
  double sum = 0;
  int above_mean = 0;
  for (const Delivery& d : deliveries_) {
    EXPECT_GE(d.time, options.min_latency_nanos);
    sum += static_cast<double>(d.time - options.min_latency_nanos);
    if (d.time - options.min_latency_nanos > options.mean_tail_nanos) ++above_mean;
  }
  // Exponential: mean 800 us (standard error 8 us here); P(tail > mean) = 1/e ~ 0.368.
  EXPECT_NEAR(sum / kMessages, 800'000.0, 50'000.0);
  EXPECT_NEAR(above_mean / static_cast<double>(kMessages), 0.368, 0.03);
}

TEST_F(NetworkTest, ALongTailReordersMessagesOnOneLink) {
  NetworkOptions options;
  options.min_latency_nanos = 1000;
  options.mean_tail_nanos = 1'000'000;
  Build(options);
  for (uint64_t i = 0; i < 200; ++i) Send(1, 2, i);
  scheduler_.Run(kForever);
  ASSERT_EQ(deliveries_.size(), 200u);
  int inversions = 0;
  for (size_t i = 1; i < deliveries_.size(); ++i) {
    if (deliveries_[i].id < deliveries_[i - 1].id) ++inversions;
  }
  EXPECT_GT(inversions, 10);
}

TEST_F(NetworkTest, TwoMessagesOnOneLinkCanArriveOutOfOrder) {
  NetworkOptions options;
  options.min_latency_nanos = 1000;
  options.mean_tail_nanos = 1'000'000;
  Build(options);
  int reordered = 0;
  for (int trial = 0; trial < 100; ++trial) {
    deliveries_.clear();
    Send(1, 2, 1);
    Send(1, 2, 2);
    scheduler_.Run(kForever);
    ASSERT_EQ(deliveries_.size(), 2u);
    if (deliveries_[0].id == 2) ++reordered;
  }
  // Each pair is reordered with probability 1/2 (i.i.d. tails).
  EXPECT_GT(reordered, 25);
  EXPECT_LT(reordered, 75);
}

TEST_F(NetworkTest, DropRateMatchesTheProbability) {
  NetworkOptions options = Fixed(10);
  options.drop_probability = 0.1;
  Build(options);
  constexpr int kMessages = 10'000;
  for (int i = 0; i < kMessages; ++i) Send(1, 2, static_cast<uint64_t>(i));
  scheduler_.Run(kForever);
  // Binomial(10000, 0.1): standard deviation 30; a band of +-200 is over 6 sigma.
  EXPECT_GT(network_->dropped(), 800u);
  EXPECT_LT(network_->dropped(), 1200u);
  EXPECT_EQ(network_->sent(), static_cast<uint64_t>(kMessages));
  EXPECT_EQ(network_->delivered() + network_->dropped(), network_->sent());
  EXPECT_EQ(deliveries_.size(), network_->delivered());
}

TEST_F(NetworkTest, DuplicatesAreDeliveredTwice) {
  NetworkOptions options = Fixed(10);
  options.duplicate_probability = 1.0;
  Build(options);
  Send(1, 2, 7);
  scheduler_.Run(kForever);
  ASSERT_EQ(deliveries_.size(), 2u);
  EXPECT_EQ(deliveries_[0].id, 7u);
  EXPECT_EQ(deliveries_[1].id, 7u);

  deliveries_.clear();
  network_->options().duplicate_probability = 0.3;
  for (int i = 0; i < 10'000; ++i) Send(1, 2, static_cast<uint64_t>(i));
  scheduler_.Run(kForever);
  // About 13,000 deliveries (standard deviation ~46).
  EXPECT_GT(deliveries_.size(), 12'700u);
  EXPECT_LT(deliveries_.size(), 13'300u);
  EXPECT_EQ(network_->delivered(), 2 + deliveries_.size());
}

TEST_F(NetworkTest, CutIsOneWay) {
  Build(Fixed(10));
  network_->Cut(1, 2);
  EXPECT_EQ(Reachable(3), (std::set<std::string>{"1>3", "2>1", "2>3", "3>1", "3>2"}));
  EXPECT_EQ(network_->dropped(), 1u);
}

TEST_F(NetworkTest, PartitionCutsBetweenGroupsAndIsolatesTheRest) {
  Build(Fixed(10), 1, 5);
  network_->Partition({{1, 2}, {3, 4}});  // 5 is in no group: isolated
  EXPECT_EQ(Reachable(5), (std::set<std::string>{"1>2", "2>1", "3>4", "4>3"}));
  network_->HealAll();
  EXPECT_EQ(Reachable(5).size(), 20u);
}

TEST_F(NetworkTest, PartitionIsolatesAnAttachedNodeLeftOutEvenIfDetached) {
  Build(Fixed(10), 1, 3);
  network_->Detach(3);  // crashed at the time of the partition
  network_->Partition({{1, 2}});
  AttachRecorder(3);  // restarted: still on its own
  EXPECT_EQ(Reachable(3), (std::set<std::string>{"1>2", "2>1"}));
}

TEST_F(NetworkTest, ClogHoldsMessagesUntilUnclogWithFreshLatency) {
  Build(Fixed(100));
  network_->Clog(1, 2);
  Send(1, 2, 1);
  Send(2, 1, 2);  // the other direction flows
  Send(1, 2, 3);
  scheduler_.At(10'000, [this] {
    ASSERT_EQ(deliveries_.size(), 1u);
    EXPECT_EQ(deliveries_[0].id, 2u);
    network_->Unclog(1, 2);
  });
  scheduler_.Run(kForever);
  ASSERT_EQ(deliveries_.size(), 3u);
  EXPECT_EQ(deliveries_[1].id, 1u);
  EXPECT_EQ(deliveries_[1].time, 10'100);  // latency counted from the unclog
  EXPECT_EQ(deliveries_[2].id, 3u);
  EXPECT_EQ(network_->delivered(), 3u);
  EXPECT_EQ(network_->dropped(), 0u);
}

TEST_F(NetworkTest, HealAllRemovesCutsAndReleasesClogs) {
  Build(Fixed(100));
  network_->Cut(1, 2);
  network_->Clog(1, 3);
  network_->Clog(3, 2);
  Send(1, 2, 1);  // cut: lost for good
  Send(1, 3, 2);
  Send(3, 2, 3);
  scheduler_.At(1000, [this] {
    EXPECT_TRUE(deliveries_.empty());
    network_->HealAll();
  });
  scheduler_.Run(kForever);
  EXPECT_EQ(Links(), (std::vector<std::string>{"1>3", "3>2"}));
  EXPECT_EQ(deliveries_[0].time, 1100);
  EXPECT_EQ(Reachable(3).size(), 6u);
}

TEST_F(NetworkTest, MessagesToADetachedNodeAreLost) {
  Build(Fixed(100));
  network_->Detach(2);
  Send(1, 2, 1);  // lost at send
  Send(1, 3, 2);
  scheduler_.At(50, [this] { network_->Detach(3); });  // lost in flight
  scheduler_.Run(kForever);
  EXPECT_TRUE(deliveries_.empty());
  EXPECT_EQ(network_->sent(), 2u);
  EXPECT_EQ(network_->dropped(), 2u);
  EXPECT_EQ(network_->delivered(), 0u);
}

TEST_F(NetworkTest, ReattachReplacesTheCallback) {
  Build(Fixed(100));
  std::vector<uint64_t> restarted;
  network_->Detach(2);
  network_->Attach(2, [&](const Envelope& m) { restarted.push_back(m.raft->header.index()); });
  Send(1, 2, 9);
  scheduler_.Run(kForever);
  EXPECT_TRUE(deliveries_.empty());
  EXPECT_EQ(restarted, std::vector<uint64_t>{9});
}

TEST_F(NetworkTest, ACallbackMayDetachItsOwnNode) {
  Build(Fixed(100));
  int seen = 0;
  network_->Attach(2, [&](const Envelope&) {
    ++seen;
    network_->Detach(2);
  });
  Send(1, 2, 1);
  Send(1, 2, 2);
  scheduler_.Run(kForever);
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(network_->dropped(), 1u);
}

// A busy run with every random fault; returns the delivery trace.
std::vector<std::string> Traffic(uint64_t seed) {
  Scheduler scheduler;
  NetworkOptions options;
  options.drop_probability = 0.05;
  options.duplicate_probability = 0.05;
  Network network(scheduler, Prng(seed), options);
  std::vector<std::string> trace;
  for (NodeId id = 1; id <= 3; ++id) {
    network.Attach(id, [&](const Envelope& e) {
      const nodepb::Envelope& m = e.header;
      trace.push_back(absl::StrCat(scheduler.now(), " ", m.from(), ">", m.to(), " #", e.raft->header.index()));
    });
  }
  uint64_t next = 0;
  for (int round = 0; round < 50; ++round) {
    scheduler.At(int64_t{round} * 300'000, [&, round] {
      if (round == 10) network.Clog(1, 2);
      if (round == 20) network.Partition({{1}, {2, 3}});
      if (round == 30) network.HealAll();
      for (NodeId a = 1; a <= 3; ++a) {
        for (NodeId b = 1; b <= 3; ++b) {
          if (a == b) continue;
          nodepb::Envelope m;
          m.set_from(a);
          m.set_to(b);
          m.mutable_raft()->set_index(next++);
          network.Send(FromProto(std::move(m)));
        }
      }
    });
  }
  scheduler.Run(kForever);
  trace.push_back(absl::StrCat("sent ", network.sent(), " delivered ", network.delivered(),
                               " dropped ", network.dropped()));
  return trace;
}

TEST(NetworkDeterminismTest, SameSeedSameDeliveriesOtherSeedOtherDeliveries) {
  const std::vector<std::string> first = Traffic(5);
  EXPECT_GT(first.size(), 200u);
  EXPECT_EQ(first, Traffic(5));
  EXPECT_NE(first, Traffic(6));
}

}  // namespace
}  // namespace keel::sim
