import type { AnyEvent, DecodedRecord } from '../lib/event-log';
import { anomalyLines, checkHistory, type ClientCommand } from './history';

/** Hand-made histories: each anomaly the checker names, planted once, and a sound history with aborted writes. */
const TOPIC = 'h.device.events';

function record(offset: number, eventId: string, aggregateId: string, version: number, partition = 0): DecodedRecord {
  const event = {
    eventId,
    type: 'device.updated',
    aggregateId,
    aggregateVersion: version,
    occurredAt: '2026-12-02T00:00:00.000Z',
  } as unknown as AnyEvent;
  return { topic: TOPIC, partition, offset: String(offset), timestamp: '0', key: aggregateId, headers: {}, schemaId: 1, event };
}

const ack = (key: string, ...eventIds: string[]): ClientCommand => ({
  key,
  method: 'PATCH',
  path: `/devices/${key}`,
  final: { status: 200, body: { eventIds } },
});

const topics = (committed: DecodedRecord[], uncommitted: DecodedRecord[] = committed) => ({
  committed: new Map([[TOPIC, committed]]),
  uncommitted: new Map([[TOPIC, uncommitted]]),
});

describe('the history checker', () => {
  test('a sound history with an aborted transaction retried: no anomaly, the aborted write counted', () => {
    const a1 = record(0, 'e1', 'd1', 1);
    const abortedTry = record(1, 'e2', 'd1', 2); // the first try of command c2, aborted
    const a2 = record(3, 'e2', 'd1', 2); // its retry, committed (offset 2 is the abort marker)
    const a3 = record(5, 'e3', 'd1', 3);
    const a4 = record(6, 'e4', 'd1', 4);
    const result = checkHistory(
      [ack('c1', 'e1'), ack('c2', 'e2'), ack('c3', 'e3', 'e4')],
      topics([a1, a2, a3, a4], [a1, abortedTry, a2, a3, a4]),
    );
    expect(anomalyLines(result)).toEqual([]);
    expect(result).toMatchObject({ events: 4, abortedEvents: 1 });
  });

  test('an acknowledged write that is gone: missing, and the versions after it have a gap', () => {
    const result = checkHistory(
      [ack('c1', 'e1'), ack('c2', 'e2'), ack('c3', 'e3')],
      topics([record(0, 'e1', 'd1', 1), record(2, 'e3', 'd1', 3)]),
    );
    expect(result.acknowledgedMissing).toEqual(['PATCH /devices/c2 [c2]: event e2']);
    expect(result.versionGaps).toEqual([`${TOPIC} d1: 1,3`]);
  });

  test('an acknowledged write found only in an aborted transaction', () => {
    const undone = record(0, 'e1', 'd1', 1);
    const result = checkHistory([ack('c1', 'e1')], topics([], [undone]));
    expect(result.abortedAcknowledged).toEqual(['PATCH /devices/c1 [c1]: device.updated e1 (h.device.events/0@0 v1)']);
    expect(result.acknowledgedMissing).toHaveLength(1);
  });

  test('a command with some of its events committed is half-visible', () => {
    const result = checkHistory([ack('c1', 'e1', 'e2')], topics([record(0, 'e1', 'd1', 1)]));
    expect(result.halfVisible).toEqual(['PATCH /devices/c1 [c1]: 1 of 2 events committed']);
  });

  test('an event written twice, and an event that no acknowledged command wrote', () => {
    const failed: ClientCommand = { key: 'c2', method: 'POST', path: '/devices/d1/start', final: { status: 409, body: {} } };
    const result = checkHistory(
      [ack('c1', 'e1'), failed],
      topics([record(0, 'e1', 'd1', 1), record(1, 'e1', 'd1', 1, 1), record(2, 'e9', 'd1', 2)]),
    );
    expect(result.duplicateEventIds).toEqual(['device.updated e1 (h.device.events/1@1 v1) is also at h.device.events/0@0']);
    expect(result.unexplained).toEqual(['device.updated e9 (h.device.events/0@2 v2)']);
  });

  test('records the client did not write (a seeded log) are never unexplained, but still checked for versions', () => {
    const seeded = [record(0, 's1', 'd9', 1), record(1, 's2', 'd9', 3)];
    const result = checkHistory([], { ...topics(seeded), notTheClients: (r) => r.event.eventId.startsWith('s') });
    expect(result.unexplained).toEqual([]);
    expect(result.versionGaps).toEqual([`${TOPIC} d9: 1,3`]);
  });
});
