import { createEventLog } from '../lib/event-log';
import type { Registry } from '../lib/registry';
import { loadEventSchemas } from '../lib/schemas';
import { draft, draftOf, event, type EventType } from './events';

/** Validation never asks the registry. */
const eventLog = createEventLog({} as Registry);

describe('the test kit’s events (test/events.ts)', () => {
  test.each(loadEventSchemas().map((s) => [s.type]))(
    '%s: the built event is one the log takes (its schema and the field rules)',
    (type) => {
      const built = event(type as EventType);
      expect(built.type).toBe(type);
      expect(eventLog.validate(built)).toEqual([]);
    },
  );

  test('a draft is the event without its metadata; overrides win', () => {
    const built = event('device.stopped', { aggregateId: 'd9', reason: 'night' });
    expect(built).toMatchObject({ aggregateId: 'd9', aggregateVersion: 1, tenantId: 'acme' });
    expect(draftOf(built)).toEqual(draft('device.stopped', { reason: 'night' }));
    expect(event('user.created', { tenantId: null }).tenantId).toBeNull();
    expect(event('user.created').eventId).not.toBe(event('user.created').eventId);
  });
});
