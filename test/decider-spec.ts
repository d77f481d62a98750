import { handle, stamp, type CommandMeta, type Decider, type Draft } from '../lib/decider';
import { DomainError } from '../lib/errors';
import type { EventEnvelope } from '../lib/event-log';
import { draftOf } from './events';

/**
 * Given/when/then for deciders, no I/O: given these events, when this command, then these events (or this
 * rejection). Used by every aggregate's *.unit.spec.ts.
 */
export function deciderSpec<C extends { readonly type: string }, E extends EventEnvelope, S>(
  decider: Decider<C, E, S>,
  aggregateId: string,
) {
  let n = 0;
  const meta = (over: Partial<CommandMeta> = {}): CommandMeta => ({
    commandId: `cmd-${++n}`,
    aggregateId,
    tenantId: 'tenant-1',
    correlationId: 'corr-1',
    causationId: null,
    now: Date.UTC(2026, 10, 25, 12, 0, 0),
    ...over,
  });
  return {
    given: (...drafts: Draft<E>[]) => {
      const history = stamp<E>(drafts, 0, meta());
      const current = { state: history.reduce(decider.evolve, decider.initialState), version: history.length };
      const run = (command: C, over?: Partial<CommandMeta>) => handle(decider, current, { ...meta(over), ...command });
      return {
        state: current.state,
        when: (command: C, over?: Partial<CommandMeta>) => ({
          /** The drafts the command produced (metadata stripped), in order. */
          then: (...expected: Draft<E>[]): void => {
            const { events } = run(command, over);
            expect(events.map(draftOf)).toEqual(expected);
          },
          thenRejects: (status: DomainError['status'], message: RegExp) => {
            let error: unknown;
            try {
              run(command, over);
            } catch (e) {
              error = e;
            }
            expect(error).toBeInstanceOf(DomainError);
            expect((error as DomainError).status).toBe(status);
            expect((error as DomainError).message).toMatch(message);
          },
        }),
      };
    },
  };
}
