// The README's Partition example, compiled and run by the tests so that it stays true: an
// idempotent producer's retry is answered with the original offsets and stored once.
//
//   partition_example DIR
#include <fmt/format.h>

#include <samsa/partition.h>

samsa::Status example(const std::string& dir) {
  SAMSA_TRY_ASSIGN(auto partition,
                   samsa::Partition::open(samsa::Env::posix(), dir, samsa::PartitionConfig{}));

  samsa::RecordBatchBuilder builder(samsa::BatchOptions{.producer_id = samsa::ProducerId(42),
                                                        .producer_epoch = samsa::ProducerEpoch(0),
                                                        .base_sequence = samsa::Sequence(0)});
  SAMSA_TRY(builder.append(samsa::SystemClock::instance().now(), samsa::as_bytes("alice"),
                           samsa::as_bytes("paid 10")));
  SAMSA_TRY_ASSIGN(samsa::MutableByteSpan batch, builder.build());
  std::vector<std::byte> retry(batch.begin(), batch.end());  // what a producer resends

  SAMSA_TRY_ASSIGN(auto first, partition->append(batch, samsa::LeaderEpoch(0)));
  SAMSA_TRY_ASSIGN(auto again, partition->append(retry, samsa::LeaderEpoch(0)));
  // again.duplicate == true, again.info.first_offset == first.info.first_offset
  fmt::print("first at {}, retry at {} (duplicate: {}), log end {}, high watermark {}\n",
             first.info.first_offset.value(), again.info.first_offset.value(), again.duplicate,
             partition->log_end_offset().value(), partition->high_watermark().value());
  return partition->close();
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: partition_example DIR\n");
    return 2;
  }
  const samsa::Status s = example(argv[1]);
  if (!s.ok()) {
    fmt::print(stderr, "partition_example: {}\n", s.to_string());
    return 1;
  }
  return 0;
}
