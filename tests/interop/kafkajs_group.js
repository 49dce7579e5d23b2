// kafkajs 2.2.4 consumer groups against samsa-server.
//   node kafkajs_group.js produce BROKER TOPIC FROM TO
//       keyed values "v<FROM>".."v<TO>", acks -1; the topic is created by the producer's
//       Metadata (auto-create), not by admin.createTopics (the server has no CreateTopics)
//   node kafkajs_group.js member BROKER TOPIC GROUP OUT
//       consumer.run with eachMessage (auto-commit after each batch) from the beginning;
//       appends "partition offset value" to OUT per message, until SIGTERM (then
//       disconnect: the last batch committed, LeaveGroup) or 60 s; appends "join P,P,.."
//       to OUT.joins for each generation it joins (its assignment)
//   node kafkajs_group.js committed BROKER TOPIC GROUP
//       prints "partition committed high-watermark" for each partition
const fs = require('fs');
const { Kafka, logLevel } = require('kafkajs');

function client(broker) {
  return new Kafka({ brokers: [broker], clientId: 'samsa-interop', logLevel: logLevel.ERROR });
}

async function produce(broker, topic, from, to) {
  const producer = client(broker).producer({ allowAutoTopicCreation: true });
  await producer.connect();
  for (let start = from; start <= to; start += 200) {
    const messages = [];
    for (let i = start; i <= Math.min(to, start + 199); i++) {
      messages.push({ key: `k${i % 13}`, value: `v${i}` });
    }
    for (const r of await producer.send({ topic, acks: -1, messages })) {
      if (r.errorCode !== 0) throw new Error(`partition ${r.partition}: error ${r.errorCode}`);
    }
  }
  await producer.disconnect();
}

async function member(broker, topic, groupId, out) {
  const consumer = client(broker).consumer({
    groupId,
    sessionTimeout: 10000,
    heartbeatInterval: 300,  // members see a rebalance quickly
    allowAutoTopicCreation: false,
  });
  // Each generation's assignment, as "join P,P,.." lines in OUT.joins.
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const parts = (payload.memberAssignment[topic] || []).slice().sort((a, b) => a - b);
    fs.appendFileSync(`${out}.joins`, `join ${parts.join(',')}\n`);
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(2), 20000).unref();  // a bound on disconnect
    await consumer.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  setTimeout(stop, 60000);
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      fs.appendFileSync(out, `${partition} ${message.offset} ${message.value}\n`);
    },
  });
}

async function committed(broker, topic, groupId) {
  const admin = client(broker).admin();
  await admin.connect();
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map(p => [p.partition, p.high]));
  await admin.disconnect();
  const lines = offsets.partitions
    .sort((a, b) => a.partition - b.partition)
    .map(p => `${p.partition} ${p.offset} ${ends.get(p.partition)}`);
  process.stdout.write(lines.join('\n') + '\n');
}

const [cmd, ...args] = process.argv.slice(2);
const commands = {
  produce: () => produce(args[0], args[1], Number(args[2]), Number(args[3])),
  member: () => member(args[0], args[1], args[2], args[3]),
  committed: () => committed(args[0], args[1], args[2]),
};
(commands[cmd] || (() => Promise.reject(new Error(`unknown command ${cmd}`))))().catch(e => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
