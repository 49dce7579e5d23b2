#!/usr/bin/env bash
# confluent-kafka's (librdkafka 2.0.2) AdminClient: create_topics and describe_configs, and
# the topic configs still in force after a restart.
source "$(dirname "$0")/lib.sh"
PYTHON=/usr/bin/python3  # Debian's, where python3-confluent-kafka lives
[[ -x $PYTHON ]] && $PYTHON -c 'import confluent_kafka' 2>/dev/null ||
  { echo "SKIP: python3-confluent-kafka is missing (scripts/install-deps --test)"; exit $SKIP; }
work=$(mktemp -d)
trap 'kill -9 $SERVER_PID 2>/dev/null || true; rm -rf "$work"' EXIT
start_server "$work/data"
timeout 120 $PYTHON "$(dirname "$0")/confluent_kafka_admin_check.py" "$BROKER"
stop_server
grep -qx "cleanup.policy=compact" "$work/data/adm-compacted.config" ||
  { echo "FAIL: adm-compacted.config:"; cat "$work/data/adm-compacted.config"; exit 1; }
start_server "$work/data"
timeout 60 $PYTHON - "$BROKER" <<'PY'
import sys
from confluent_kafka.admin import AdminClient, ConfigResource
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
(_, f), = admin.describe_configs([ConfigResource("topic", "adm-compacted")]).items()
c = f.result(30)
assert c["cleanup.policy"].value == "compact" and c["retention.ms"].value == "3600000", c
print("ok: the configs are in force after a restart")
PY
stop_server
echo "PASS"
