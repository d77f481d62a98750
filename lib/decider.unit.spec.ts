import { deterministicUuid, eventIdFor, handle } from './decider';
import { userDecider } from '../services/user/decider';

const meta = { commandId: 'c-1', aggregateId: 'u-1', tenantId: 't-1', correlationId: 'corr', causationId: null, now: 1_000 };

describe('handle: expected version, decide, stamp', () => {
  test('stamps ids from the command, versions after the current one, time, correlation and tenant', () => {
    const { events, version, state } = handle(
      userDecider,
      { state: userDecider.initialState, version: 0 },
      {
        ...meta,
        type: 'RegisterUser',
        username: 'alice',
        email: 'a@example.com',
        phone: null,
      },
    );
    expect(events).toEqual([
      {
        eventId: eventIdFor('c-1', 0),
        type: 'user.created',
        aggregateId: 'u-1',
        aggregateVersion: 1,
        occurredAt: 1_000,
        correlationId: 'corr',
        causationId: 'c-1',
        tenantId: 't-1',
        username: 'alice',
        email: 'a@example.com',
        phone: null,
        status: 'active',
      },
    ]);
    expect(version).toBe(1);
    expect(state).toMatchObject({ status: 'active', username: 'alice' });
  });

  test('the same command id always yields the same event ids; another id yields others', () => {
    expect(eventIdFor('c-1', 0)).toBe(eventIdFor('c-1', 0));
    expect(eventIdFor('c-1', 0)).not.toBe(eventIdFor('c-1', 1));
    expect(eventIdFor('c-1', 0)).not.toBe(eventIdFor('c-2', 0));
    expect(deterministicUuid('x')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('an event caused by another event keeps that cause', () => {
    const { events } = handle(
      userDecider,
      { state: userDecider.initialState, version: 0 },
      {
        ...meta,
        causationId: 'event-9',
        type: 'RegisterUser',
        username: 'a',
        email: 'a@b.c',
        phone: null,
      },
    );
    expect(events[0]?.causationId).toBe('event-9');
  });
});
