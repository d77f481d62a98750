import { createConsumer, createProducer, runConsumer } from './kafka';
import { sleep } from './wait';
import { integration, unique, waitFor } from '../test/support';

/**
 * kafkajs gives up on a consumer after a crash it deems not retriable (a broker stalled past every timeout gave
 * "Failed to find group coordinator"); runConsumer starts it again, so its partitions are not left unread.
 */
const it_ = integration();
afterAll(() => it_.close());

test('a consumer kafkajs gives up on is started again and reads on; one its owner stops stays stopped', async () => {
  const topic = await it_.topic('run-consumer', 1);
  const producer = createProducer(it_.kafka);
  await producer.connect();
  const consumer = createConsumer(it_.kafka, unique('test-run-consumer'));
  const seen: string[] = [];
  const crashes: boolean[] = [];
  consumer.on(consumer.events.CRASH, ({ payload }) => void crashes.push(payload.restart));
  await runConsumer(consumer, {
    topics: [topic],
    fromBeginning: true,
    logger: it_.logger,
    what: 'test',
    run: {
      eachMessage: async ({ message }) => {
        const value = String(message.value);
        if (value === 'boom' && crashes.length === 0) throw Object.assign(new Error('not retriable'), { retriable: false });
        seen.push(value);
      },
    },
  });
  await producer.send({ topic, messages: [{ value: 'a' }, { value: 'boom' }, { value: 'c' }] });
  await waitFor(() => (seen.includes('c') ? true : undefined), { what: 'the consumer to read past the crash', timeoutMs: 30_000 });
  expect(crashes).toEqual([false]); // kafkajs itself would not have restarted it
  expect(seen).toEqual(expect.arrayContaining(['a', 'boom', 'c']));
  await consumer.disconnect();
  await producer.send({ topic, messages: [{ value: 'after stop' }] });
  await sleep(2000);
  expect(seen).not.toContain('after stop');
  await producer.disconnect();
});
