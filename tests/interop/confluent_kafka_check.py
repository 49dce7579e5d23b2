"""confluent-kafka (Python, on librdkafka) against samsa-server.

  produce BROKER TOPIC N OUT      idempotent producer, N keyed messages; writes what was
                                  acknowledged ("partition offset key value" lines) to OUT
  produce-until-killed BROKER TOPIC OUT
                                  acks=all producer that keeps producing, appending each
                                  acknowledgement to OUT as it arrives, until the broker dies
  consume BROKER TOPIC PARTITIONS OUT
                                  assign() every partition from the beginning, read to the end,
                                  write "partition offset key value" lines to OUT
"""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def produce(broker, topic, n, out):
    producer = Producer({
        "bootstrap.servers": broker,
        "enable.idempotence": True,  # acks=all, max.in.flight <= 5, retries, sequence numbers
        "linger.ms": 5,
    })
    acked, errors = [], []

    def on_delivery(err, msg):
        if err:
            errors.append(str(err))
        else:
            acked.append((msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()))

    for i in range(n):
        producer.produce(topic, key=f"key-{i % 37}", value=f"value-{i}", on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(60)
    if left or errors or len(acked) != n:
        sys.exit(f"FAIL: {left} unflushed, {len(errors)} errors {errors[:3]}, {len(acked)}/{n} acked")
    with open(out, "w") as f:
        for p, o, k, v in acked:
            f.write(f"{p} {o} {k} {v}\n")
    print(f"ok: {n} messages acknowledged by an idempotent producer")


def produce_until_killed(broker, topic, out):
    producer = Producer({
        "bootstrap.servers": broker,
        "acks": "all",
        "linger.ms": 2,
        "message.timeout.ms": 4000,
        "reconnect.backoff.max.ms": 200,
    })
    with open(out, "w", buffering=1) as f:
        def on_delivery(err, msg):
            if not err:
                f.write(f"{msg.partition()} {msg.offset()} {msg.key().decode()} {msg.value().decode()}\n")
        deadline = time.time() + 30
        i = 0
        while time.time() < deadline:
            try:
                producer.produce(topic, key=f"key-{i % 11}", value=f"value-{i}", on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            producer.poll(0.001 if i % 100 == 0 else 0)
            if i % 1000 == 0 and producer.flush(0) and len(producer) > 20000:
                break  # the broker is gone: the queue only grows
        producer.flush(10)


def consume(broker, topic, partitions, out):
    consumer = Consumer({
        "bootstrap.servers": broker,
        "group.id": "samsa-interop",  # required by the client; no group is joined with assign()
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    })
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    at_end, rows = set(), []
    deadline = time.time() + 60
    while len(at_end) < partitions and time.time() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == -191:  # _PARTITION_EOF
                at_end.add(msg.partition())
                continue
            sys.exit(f"FAIL: consumer error {msg.error()}")
        at_end.discard(msg.partition())
        rows.append((msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()))
    consumer.close()
    if len(at_end) < partitions:
        sys.exit(f"FAIL: only partitions {sorted(at_end)} reached their end")
    with open(out, "w") as f:
        for p, o, k, v in rows:
            f.write(f"{p} {o} {k} {v}\n")
    print(f"ok: consumed {len(rows)} messages from {partitions} partitions")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif cmd == "produce-until-killed":
        produce_until_killed(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit(__doc__)
