import { Command } from 'commander';
import { handle } from '../lib/decider';
import type { AnyEvent } from '../lib/event-log';
import { createProducer } from '../lib/kafka';
import { startProjections, PROJECTIONS } from '../platform/read-side';
import { notificationDecider } from '../services/notification/decider';
import { readSideFixture, topicOf } from '../test/read-side';

/**
 * Live throughput of each projection on the running local stack: a fresh namespace is filled with a realistic
 * mix of events made by the deciders, then each projection alone applies them from offset 0 to the end.
 */
const opts = new Command('projection-throughput')
  .option('-n, --histories <n>', 'histories to generate (≈30 events each)', '600')
  .parse()
  .opts<{ histories: string }>();

async function main(): Promise<void> {
  const fx = await readSideFixture('bench');
  try {
    const t0 = Date.now();
    const events = await fx.feed(Number(opts.histories), 42);
    const producer = createProducer(fx.it.kafka);
    await producer.connect();
    const notes: AnyEvent[] = [];
    for (let i = 0; i < Math.ceil(events / 5); i++) {
      const meta = {
        commandId: `n${i}`,
        aggregateId: `bench-n${i}`,
        tenantId: 'acme',
        correlationId: 'c',
        causationId: null,
        now: Date.now(),
      };
      const sent = handle(
        notificationDecider,
        { state: notificationDecider.initialState, version: 0 },
        {
          ...meta,
          type: 'SendNotification',
          userId: `u${i % 50}`,
          title: '支付成功',
          content: '您的订单已支付成功，金额：¥29.90',
          cause: 'order.paid',
        },
      );
      const read = i % 2 === 0 ? handle(notificationDecider, sent, { ...meta, commandId: `r${i}`, type: 'ReadNotification' }).events : [];
      notes.push(...(sent.events as unknown as AnyEvent[]), ...(read as unknown as AnyEvent[]));
    }
    for (let i = 0; i < notes.length; i += 500)
      await fx.it.eventLog.append(producer, fx.topics.notification.events, notes.slice(i, i + 500));
    await producer.disconnect();
    fx.produced.push(...notes);
    console.log(`fed ${events + notes.length} events in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);

    for (const [name, projection] of Object.entries(PROJECTIONS)) {
      const mine = new Set(projection.topics(fx.topics));
      const count = fx.produced.filter((e) => mine.has(topicOf(fx.topics, e.type))).length;
      const start = Date.now();
      const side = await startProjections(fx.cfg, { names: [name], logger: fx.it.logger });
      await fx.caughtUp(projection, 600_000);
      const seconds = (Date.now() - start) / 1000;
      await side.stop();
      console.log(
        `${name.padEnd(13)} ${String(count).padStart(7)} events in ${seconds.toFixed(1).padStart(5)}s  →  ${Math.round(count / seconds)} events/s (start-up and group join included)`,
      );
    }
  } finally {
    await fx.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
