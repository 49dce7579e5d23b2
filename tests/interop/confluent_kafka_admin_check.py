"""confluent-kafka's AdminClient against samsa-server: create_topics (with configs, a bad
replication factor, an existing topic, validate_only) and describe_configs.

Usage: confluent_kafka_admin_check.py BROKER
Prints "ok: ..." lines; raises (non-zero exit) on the first mismatch.
"""
import sys

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic


def main():
    admin = AdminClient({"bootstrap.servers": sys.argv[1]})

    def create(topics, **kwargs):
        out = {}
        for name, future in admin.create_topics(topics, **kwargs).items():
            try:
                future.result(30)
                out[name] = None
            except Exception as e:  # KafkaException carrying a KafkaError
                out[name] = e.args[0].code()
        return out

    got = create([NewTopic("adm-compacted", 4, 1, config={"cleanup.policy": "compact",
                                                          "retention.ms": "3600000"}),
                  NewTopic("adm-rf3", 1, 3),
                  NewTopic("adm-badconfig", 1, 1, config={"retention.ms": "soon"})])
    assert got == {"adm-compacted": None,
                   "adm-rf3": KafkaError.INVALID_REPLICATION_FACTOR,
                   "adm-badconfig": KafkaError.INVALID_CONFIG}, got
    print("ok: create_topics: created, INVALID_REPLICATION_FACTOR, INVALID_CONFIG")
    got = create([NewTopic("adm-compacted", 1, 1)])
    assert got == {"adm-compacted": KafkaError.TOPIC_ALREADY_EXISTS}, got
    got = create([NewTopic("adm-dry", 2, 1)], validate_only=True)
    assert got == {"adm-dry": None}, got
    md = admin.list_topics(timeout=10)
    assert len(md.topics["adm-compacted"].partitions) == 4, md.topics["adm-compacted"]
    assert "adm-dry" not in md.topics and "adm-rf3" not in md.topics, list(md.topics)
    print("ok: TOPIC_ALREADY_EXISTS; validate_only creates nothing; 4 partitions in metadata")

    (resource, future), = admin.describe_configs([ConfigResource("topic", "adm-compacted")]).items()
    configs = future.result(30)
    assert configs["cleanup.policy"].value == "compact", configs["cleanup.policy"]
    assert configs["retention.ms"].value == "3600000", configs["retention.ms"]
    assert not configs["retention.ms"].is_default
    assert configs["segment.bytes"].is_default
    print("ok: describe_configs: the topic's own configs and the defaults")


if __name__ == "__main__":
    main()
