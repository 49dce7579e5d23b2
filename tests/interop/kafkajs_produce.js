// kafkajs 2.2.4 producer (acks -1) writing keyed messages to a topic of several partitions.
// Prints one "partition offset key value" line per message, from the base offsets the
// broker acknowledged. Usage: node kafkajs_produce.js BROKER TOPIC COUNT
const { Kafka, logLevel } = require('kafkajs');

async function main() {
  const [broker, topic, countText] = process.argv.slice(2);
  const count = Number(countText);
  const kafka = new Kafka({ brokers: [broker], clientId: 'samsa-interop', logLevel: logLevel.ERROR });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const lines = [];
  // Several sends, each of several keys: each send is one request with a batch per partition.
  for (let start = 0; start < count; start += 250) {
    const messages = [];
    for (let i = start; i < Math.min(count, start + 250); i++) {
      messages.push({ key: `key-${i % 19}`, value: `value-${i}` });
    }
    const results = await producer.send({ topic, acks: -1, messages });
    // kafkajs groups a send's messages by partition in send order; its default partitioner
    // is murmur2 on the key, so the broker's base offset of each partition gives each
    // message's offset.
    const byPartition = new Map();
    for (const r of results) {
      if (r.errorCode !== 0) throw new Error(`partition ${r.partition}: error ${r.errorCode}`);
      byPartition.set(r.partition, BigInt(r.baseOffset));
    }
    const { Partitioners } = require('kafkajs');
    const partitioner = Partitioners.DefaultPartitioner();
    const meta = await metadata(kafka, topic);
    for (const m of messages) {
      const p = partitioner({ topic, partitionMetadata: meta, message: m });
      const offset = byPartition.get(p);
      byPartition.set(p, offset + 1n);
      lines.push(`${p} ${offset} ${m.key} ${m.value}`);
    }
  }
  await producer.disconnect();
  process.stdout.write(lines.join('\n') + '\n');
}

async function metadata(kafka, topic) {
  const admin = kafka.admin();
  await admin.connect();
  const md = await admin.fetchTopicMetadata({ topics: [topic] });
  await admin.disconnect();
  return md.topics[0].partitions.map(p => ({ partitionId: p.partitionId, leader: p.leader }));
}

main().catch(e => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
