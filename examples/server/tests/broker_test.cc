// The Broker on a FaultyEnv: producer ids are never handed out twice, across power cuts
// that drop every unsynced write, and across a failed write of the producer-id-block file.
#include <catch2/catch.hpp>

#include <set>

#include "broker.h"
#include "fetch_waiters.h"
#include "samsa/faulty_env.h"
#include "work_pool.h"

namespace samsa_server {
namespace {

struct BrokerOnFaultyEnv {
  samsa::FaultyEnv env{23};
  WorkPool pool{"test-append", 1};
  FetchWaiters waiters{pool};
  std::unique_ptr<Broker> broker;

  BrokerOnFaultyEnv() { open(); }
  ~BrokerOnFaultyEnv() {
    broker.reset();
    pool.stop();
  }
  void open() {
    broker.reset();
    auto opened = Broker::open(BrokerConfig{.data_dir = "/data"}, pool, waiters, env);
    INFO(opened.status().to_string());
    REQUIRE(opened.ok());
    broker = std::move(opened).value();
  }
  // A power cut (the broker dies without closing), then the broker again.
  void power_cut_and_reopen() {
    env.power_cut(samsa::PowerCutMode::drop_unsynced);
    open();
  }
  std::int64_t next_id() {
    auto id = broker->next_producer_id();
    INFO(id.status().to_string());
    REQUIRE(id.ok());
    return *id;
  }
};

}  // namespace

TEST_CASE("ProducerIdsAreNeverReusedAcrossPowerCuts") {
  BrokerOnFaultyEnv f;
  std::set<std::int64_t> handed_out;
  for (int round = 0; round < 3; ++round) {
    // Past one block in the second round: the next block is reserved mid-round.
    const int ids = round == 1 ? static_cast<int>(Broker::kProducerIdBlock) + 5 : 3;
    for (int i = 0; i < ids; ++i) {
      const std::int64_t id = f.next_id();
      CHECK(handed_out.insert(id).second);
      CHECK(id >= 0);
    }
    f.power_cut_and_reopen();
  }
  // The first id after a cut starts the block after the last reserved one.
  CHECK(f.next_id() > *handed_out.rbegin());
}

TEST_CASE("AFailedProducerIdBlockWriteHandsOutNoIdOfThatBlock") {
  BrokerOnFaultyEnv f;
  const std::int64_t first = f.next_id();  // reserves [0, kProducerIdBlock)
  for (std::int64_t i = 1; i < Broker::kProducerIdBlock; ++i) (void)f.next_id();
  // The next block's reservation fails at its rename: no id of it is handed out.
  f.env.fail_nth(samsa::FaultOp::rename, 1, EIO);
  auto refused = f.broker->next_producer_id();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == samsa::StatusCode::io_error);
  f.power_cut_and_reopen();
  const std::int64_t after = f.next_id();
  CHECK(after >= first + Broker::kProducerIdBlock);
}

}  // namespace samsa_server
