"""confluent-kafka (Python, on librdkafka) consumer groups against samsa-server.

  produce BROKER TOPIC FROM TO RATE OUT
        values "m<FROM>".."m<TO>" (keyed), about RATE a second; writes "partition offset
        value" for each acknowledged message to OUT
  member BROKER TOPIC GROUP STRATEGY OUT [manual] [stop-after=N] [session=MS] [delay=S]
        a subscribe() member until SIGTERM (or N messages, or 120 s), S seconds a batch. Appends to OUT, one
        event a line, each led by CLOCK_MONOTONIC seconds (one clock for every process):
          T assign P,P,..    T revoke P,P,..    T lost P,P,..    (the callbacks' partitions)
          T msg P OFFSET VALUE
          T committed P:OFFSET,..               (manual: after each processed batch)
        STRATEGY is range or cooperative-sticky. manual: enable.auto.commit=false and a
        synchronous commit after each processed batch; otherwise auto-commit every 100 ms.
  committed BROKER TOPIC GROUP PARTITIONS OUT
        the group's committed offsets (OffsetFetch, without joining): "partition offset"
  check OUT CONSUMED... [killed=FILE:T]
        checks member logs (see check() below) against the acknowledged messages in OUT
  resume-check COMMITTED BEFORE... -- AFTER...
        members restarted after the commits in COMMITTED start exactly there (see below)
"""
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def now():
    return f"{time.clock_gettime(time.CLOCK_MONOTONIC):.6f}"


def produce(broker, topic, first, last, rate, out):
    producer = Producer({"bootstrap.servers": broker, "acks": "all", "linger.ms": 5})
    acked, errors = [], []

    def on_delivery(err, msg):
        if err:
            errors.append(str(err))
        else:
            acked.append((msg.partition(), msg.offset(), msg.value().decode()))

    start = time.time()
    for i in range(first, last + 1):
        producer.produce(topic, key=f"k{i % 23}", value=f"m{i}", on_delivery=on_delivery)
        producer.poll(0)
        ahead = (i - first) / rate - (time.time() - start)
        if ahead > 0:
            time.sleep(ahead)
    left = producer.flush(30)
    n = last - first + 1
    if left or errors or len(acked) != n:
        sys.exit(f"FAIL: {left} unflushed, {len(errors)} errors {errors[:3]}, {len(acked)}/{n} acked")
    with open(out, "a") as f:
        for p, o, v in acked:
            f.write(f"{p} {o} {v}\n")


def member(broker, topic, group, strategy, out, opts):
    manual = "manual" in opts
    stop_after = int(opts.get("stop-after", 0))
    config = {
        "bootstrap.servers": broker,
        "group.id": group,
        "partition.assignment.strategy": strategy,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": int(opts.get("session", 6000)),
        "heartbeat.interval.ms": 200,  # members see a rebalance quickly
        "enable.auto.commit": not manual,
        "auto.commit.interval.ms": 100,
        "topic.metadata.refresh.interval.ms": 1000,
        "reconnect.backoff.max.ms": 500,  # back soon after a server restart
    }
    if "debug" in opts:
        config["debug"] = opts["debug"]
    consumer = Consumer(config)
    log = open(out, "a", buffering=1)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def parts(ps):
        return ",".join(str(p.partition) for p in sorted(ps, key=lambda p: p.partition))

    def on_assign(c, ps):
        log.write(f"{now()} assign {parts(ps)}\n")
        if strategy == "cooperative-sticky":
            c.incremental_assign(ps)
        else:
            c.assign(ps)

    def on_revoke(c, ps):
        log.write(f"{now()} revoke {parts(ps)}\n")
        if strategy == "cooperative-sticky":
            c.incremental_unassign(ps)
        else:
            c.unassign()

    def on_lost(c, ps):
        log.write(f"{now()} lost {parts(ps)}\n")
        on_revoke(c, ps)

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    delay = float(opts.get("delay", 0))  # seconds of "processing" a batch
    deadline = time.time() + 120
    seen = 0
    while not stop and time.time() < deadline and not (stop_after and seen >= stop_after):
        # A batch is built with poll(), not consume(num_messages): at a rebalance, librdkafka
        # 2.0.2's batch consume stored the offsets of messages it then dropped (its debug
        # log: stored offset 166 for a partition whose last delivered message was 150), so
        # auto-commit skipped them; poll() hands out one message at a time.
        batch = []
        while len(batch) < 20:
            msg = consumer.poll(0.2 if not batch else 0)
            if msg is None:
                break
            batch.append(msg)
        offsets = {}
        for msg in batch:
            if msg.error():
                if msg.error().fatal():
                    sys.exit(f"FAIL: consumer error {msg.error()}")
                # e.g. the topic is not there yet: the producer creates it
                log.write(f"{now()} error {msg.error().code()}\n")
                continue
            log.write(f"{now()} msg {msg.partition()} {msg.offset()} {msg.value().decode()}\n")
            offsets[msg.partition()] = msg.offset() + 1
            seen += 1
        if delay and batch:
            time.sleep(delay)
        if manual and offsets:
            tps = [TopicPartition(topic, p, o) for p, o in sorted(offsets.items())]
            try:
                done = consumer.commit(offsets=tps, asynchronous=False)
                log.write(f"{now()} committed " +
                          ",".join(f"{t.partition}:{t.offset}" for t in done if not t.error) + "\n")
            except KafkaException as e:  # a rebalance took the partitions: not committed
                log.write(f"{now()} commit-failed {e}\n")
    consumer.close()
    log.write(f"{now()} closed\n")


def committed(broker, topic, group, partitions, out):
    consumer = Consumer({"bootstrap.servers": broker, "group.id": group,
                         "enable.auto.commit": False})
    tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=20)
    consumer.close()
    with open(out, "w") as f:
        for t in tps:
            if t.error:
                sys.exit(f"FAIL: committed offset of {topic}/{t.partition}: {t.error}")
            f.write(f"{t.partition} {t.offset}\n")


def read_log(path):
    events = []
    for line in open(path):
        t, kind, *rest = line.split()
        events.append((float(t), kind, rest))
    return events


def check(acked_path, logs, killed):
    """Every acknowledged message was consumed at least once; a member read only partitions
    it held (assigned, not yet revoked); no two members held a partition at the same time
    (one owner per partition per generation, on one monotonic clock; a killed member holds
    its partitions until it was killed); within one holding a member read an offset at most
    once, in order. Prints "duplicates N": messages read again by a later owner (those
    processed after the last commit before a rebalance)."""
    acked = {}
    for line in open(acked_path):
        p, o, v = line.split()
        acked[(int(p), int(o))] = v
    consumed = {}
    holdings = []  # (partition, start, end, member)
    for path in logs:
        held = {}  # partition -> (start, last offset read in this holding)
        end_of_log = killed.get(path, float("inf"))
        for t, kind, rest in read_log(path):
            if kind == "assign":
                for p in map(int, filter(None, rest[0].split(",") if rest else [])):
                    if p in held:  # assigned again without a revoke: a new holding
                        holdings.append((p, held.pop(p)[0], t, path))
                    held[p] = (t, -1)
            elif kind in ("revoke", "lost"):
                for p in map(int, filter(None, rest[0].split(",") if rest else [])):
                    if p in held:
                        holdings.append((p, held.pop(p)[0], t, path))
            elif kind == "msg":
                p, o, v = int(rest[0]), int(rest[1]), rest[2]
                if p not in held:
                    sys.exit(f"FAIL: {path} read {p}/{o} at {t} without holding partition {p}")
                if o <= held[p][1]:
                    sys.exit(f"FAIL: {path} read {p}/{o} after {p}/{held[p][1]} in one holding")
                held[p] = (held[p][0], o)
                if acked.get((p, o), v) != v:
                    sys.exit(f"FAIL: {path} read {v} at {p}/{o}, acknowledged as {acked[(p, o)]}")
                consumed.setdefault((p, o), []).append(path)
            elif kind == "closed":
                for p, (start, _) in held.items():
                    holdings.append((p, start, t, path))
                held = {}
        for p, (start, _) in held.items():
            holdings.append((p, start, end_of_log, path))
    missing = sorted(set(acked) - set(consumed))
    if missing:
        sys.exit(f"FAIL: {len(missing)} acknowledged messages never consumed, e.g. {missing[:5]}")
    holdings.sort()
    latest = {}  # partition -> the holding that ends last so far
    for h in holdings:
        a = latest.get(h[0])
        if a and h[1] < a[2]:
            sys.exit(f"FAIL: partition {h[0]} held by {a[3]} [{a[1]}, {a[2]}) and "
                     f"{h[3]} [{h[1]}, {h[2]})")
        if not a or h[2] > a[2]:
            latest[h[0]] = h
    duplicates = sum(len(v) - 1 for v in consumed.values())
    members = {path for _, _, _, path in holdings}
    print(f"ok: {len(acked)} messages consumed, {len(holdings)} holdings over {len(members)} "
          f"members, no partition held twice at once, duplicates {duplicates}")


def resume_check(committed_path, before, after):
    """Per partition, the first offset read after the restart is the committed one (the
    earliest when none was), so what is read again is exactly what was processed after the
    last commit."""
    committed = {}
    for line in open(committed_path):
        p, o = map(int, line.split())
        committed[p] = o if o >= 0 else 0

    def reads(paths):
        r = {}
        for path in paths:
            for _, kind, rest in read_log(path):
                if kind == "msg":
                    r.setdefault(int(rest[0]), []).append(int(rest[1]))
        return r
    pre, post = reads(before), reads(after)
    again = 0
    for p, o in sorted(committed.items()):
        if p not in post:
            if any(x >= o for x in pre.get(p, [])):
                sys.exit(f"FAIL: partition {p}: nothing read after the restart")
            continue
        if min(post[p]) != o:
            sys.exit(f"FAIL: partition {p}: restarted at {min(post[p])}, committed {o}")
        again += len(set(pre.get(p, [])) & set(post[p]))
        beyond = [x for x in pre.get(p, []) if x >= o]
        if len(set(beyond)) != len(set(pre.get(p, [])) & set(post[p])):
            sys.exit(f"FAIL: partition {p}: read again differs from processed after the commit")
    print(f"ok: restarted at the committed offsets {sorted(committed.items())}; "
          f"{again} messages processed after the last commit read again")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "produce":
        produce(args[0], args[1], int(args[2]), int(args[3]), float(args[4]), args[5])
    elif cmd == "member":
        opts = dict((a.split("=", 1) + [""])[:2] for a in args[5:])
        member(*args[:5], opts)
    elif cmd == "committed":
        committed(args[0], args[1], args[2], int(args[3]), args[4])
    elif cmd == "check":
        killed = {}
        for a in [a for a in args[1:] if a.startswith("killed=")]:
            path, t = a[len("killed="):].rsplit(":", 1)
            killed[path] = float(t)
        check(args[0], [a for a in args[1:] if not a.startswith("killed=")], killed)
    elif cmd == "resume-check":
        split = args.index("--")
        resume_check(args[0], args[1:split], args[split + 1:])
    else:
        sys.exit(__doc__)
