import { createHash } from 'node:crypto';
import type { Actor } from './auth';
import type { EventEnvelope } from './event-log';
import { conflict } from './errors';
import type { PersonalData } from './pii';

/** What every command carries besides its own fields: ids and time come in, deciders never make them. */
export interface CommandMeta {
  readonly commandId: string;
  readonly aggregateId: string;
  readonly tenantId: string | null;
  readonly correlationId: string;
  readonly causationId: string | null;
  /** The time of the command, epoch milliseconds. */
  readonly now: number;
  /** The version the client last saw; a different current version is a 409. */
  readonly expectedVersion?: number;
  /**
   * Who sent the command over HTTP (from the bearer token); the aggregate's writer checks on its state that the
   * actor may command it. Absent for internal callers (sagas and policies) and the open sign-up.
   */
  readonly actor?: Actor | null;
  /**
   * A digest of the HTTP request (method, path, body) that sent the command with an Idempotency-Key: the same
   * key with another request is refused (422), never answered with the first request's result.
   */
  readonly requestHash?: string;
}

/** An event as a decider returns it: its type and fields, without the metadata the handler stamps on. */
export type Draft<E extends EventEnvelope> = E extends unknown ? Omit<E, keyof EventEnvelope> & { readonly type: E['type'] } : never;

export interface Decider<C extends { readonly type: string }, E extends EventEnvelope, S> {
  readonly initialState: S;
  /** Every command type the decider knows (the compiler holds it against the union); any other is refused with a 400. */
  readonly commands: { readonly [K in C['type']]: true };
  /** The events the command produces in this state, or a thrown DomainError. An empty list is a no-op. */
  decide(command: C & CommandMeta, state: S): readonly Draft<E>[];
  evolve(state: S, event: E): S;
  /**
   * The version of the state's format (0 when absent), part of its fingerprint (lib/snapshots.ts) with the source
   * of `evolve`: bump it when the state's meaning changes where that source does not show it (a helper `evolve`
   * calls), so that the writers fold from the events instead of trusting older snapshots.
   */
  readonly stateVersion?: number;
  /** Where its commands and state hold personal data (sealed on the command topic and in snapshots: lib/pii.ts). */
  readonly personal?: PersonalData<S>;
}

/** A deterministic uuid (RFC 4122 layout, version 5 style) from a name: the same command always yields the same event ids. */
export function deterministicUuid(name: string): string {
  const h = createHash('sha1').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const eventIdFor = (commandId: string, index: number) => deterministicUuid(`${commandId}/event/${index}`);

/** Turns drafts into events: ids from the command id, versions after `version`, time and correlation from the command. */
export function stamp<E extends EventEnvelope>(drafts: readonly Draft<E>[], version: number, command: CommandMeta): E[] {
  return drafts.map(
    (d, i) =>
      ({
        eventId: eventIdFor(command.commandId, i),
        aggregateId: command.aggregateId,
        aggregateVersion: version + i + 1,
        occurredAt: command.now,
        correlationId: command.correlationId,
        causationId: command.causationId ?? command.commandId,
        tenantId: command.tenantId,
        ...d,
      }) as unknown as E,
  );
}

/** Checks the expected version, decides, and stamps: the whole write-side step for one command. */
export function handle<C extends { readonly type: string }, E extends EventEnvelope, S>(
  decider: Decider<C, E, S>,
  current: { state: S; version: number },
  command: C & CommandMeta,
): { events: E[]; state: S; version: number } {
  if (command.expectedVersion !== undefined && command.expectedVersion !== current.version) {
    throw conflict(`expected version ${command.expectedVersion} but the current version is ${current.version}`, {
      currentVersion: current.version,
    });
  }
  const events = stamp<E>(decider.decide(command, current.state), current.version, command);
  return { events, state: events.reduce(decider.evolve, current.state), version: current.version + events.length };
}

/** Exhaustiveness check for switches over a union. */
export function assertNever(x: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(x)}`);
}
