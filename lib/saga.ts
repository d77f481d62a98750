import type { Knex } from 'knex';
import type { CommandBus } from './command-bus';
import type { Db } from './db';
import { deterministicUuid } from './decider';
import type { EventEnvelope } from './event-log';
import type { Logger } from './logger';
import type { Row, TableSpec } from './projection';
import { isRetriable } from './retry';
import type { AggregateName, Topics } from './topics';

/**
 * Sagas and policies are projections whose rows include the commands they want sent: `saga_actions`, written
 * in the same transaction as their state and checkpoint (an outbox). A dispatcher sends the actions that are due
 * through the command side. Action ids are the command ids, derived from the causing event, so a redelivered
 * event or a resent action is the same command: its writer answers with the first result, no effect twice.
 * Deadlines (a payment timeout, an install delay) are actions due later; they survive every restart.
 */
export interface ActionRow extends Row {
  action_id: string;
  saga: string;
  /** What to do: a command (`command`) or a step the saga expands at dispatch time into commands. */
  kind: string;
  aggregate: AggregateName | null;
  aggregate_id: string | null;
  command_type: string | null;
  payload: Record<string, unknown>;
  tenant_id: string | null;
  correlation_id: string;
  cause_event_id: string;
  due_at: Date;
  status: 'pending' | 'done' | 'rejected' | 'cancelled';
  result: string | null;
  /** A command to send if this one is refused (e.g. refund the order when the device is refused). */
  compensation: { aggregate: AggregateName; aggregateId: string; type: string; payload: Record<string, unknown> } | null;
}

export const ACTIONS = 'saga_actions';
export const actionsTable: TableSpec = { key: 'action_id' };

export function createActionsTable(knex: Knex) {
  return knex.schema.createTable(ACTIONS, (t) => {
    t.text('action_id').primary();
    t.text('saga').notNullable();
    t.text('kind').notNullable();
    t.text('aggregate');
    t.text('aggregate_id');
    t.text('command_type');
    t.jsonb('payload').notNullable();
    t.text('tenant_id');
    t.text('correlation_id').notNullable();
    t.text('cause_event_id').notNullable();
    t.timestamp('due_at', { useTz: true }).notNullable();
    t.text('status').notNullable();
    t.text('result');
    t.jsonb('compensation');
    t.index(['status', 'due_at']);
    t.index(['saga', 'aggregate_id']);
  });
}

export const actionId = (saga: string, key: string, step: string) => deterministicUuid(`${saga}/${key}/${step}`);

/** Cancels a pending action (a deadline that no longer applies); an action already sent is left as it is. */
export function cancelAction(
  view: { get<T extends Row>(t: string, k: string): T | undefined; put(t: string, r: Row): void },
  id: string,
  why: string,
): void {
  const a = view.get<ActionRow>(ACTIONS, id);
  if (a && a.status === 'pending') view.put(ACTIONS, { ...a, status: 'cancelled', result: why });
}

/** An action caused by `event`, due at `dueAt` (default: the event's time, i.e. now). Its id is deterministic. */
export function action(
  saga: string,
  event: EventEnvelope,
  step: string,
  what: {
    kind?: string;
    aggregate?: AggregateName;
    aggregateId?: string;
    type?: string;
    payload?: Record<string, unknown>;
    dueAt?: number;
    compensation?: ActionRow['compensation'];
    /** What the id derives from, when not the causing event (e.g. the order id, so a later event can cancel it). */
    key?: string;
  },
): ActionRow {
  return {
    action_id: actionId(saga, what.key ?? event.eventId, step),
    saga,
    kind: what.kind ?? 'command',
    aggregate: what.aggregate ?? null,
    aggregate_id: what.aggregateId ?? null,
    command_type: what.type ?? null,
    payload: what.payload ?? {},
    tenant_id: event.tenantId,
    correlation_id: event.correlationId,
    cause_event_id: event.eventId,
    due_at: new Date(what.dueAt ?? event.occurredAt),
    status: 'pending',
    result: null,
    compensation: what.compensation ?? null,
  };
}

/** A command an expanding step turns into at dispatch time. */
export interface ExpandedCommand {
  step: string;
  aggregate: AggregateName;
  aggregateId: string;
  type: string;
  payload: Record<string, unknown>;
}

/** Steps that are decided when they are due, on the state the saga has then (e.g. is the device running now?). */
export type Expanders = Record<string, (action: ActionRow, db: Knex.Transaction) => Promise<ExpandedCommand[]>>;

/**
 * Sends the due actions. Claims them with FOR UPDATE SKIP LOCKED (several dispatchers share the work), sends
 * each command and waits for its reply, then records the outcome. A command that could not be confirmed stays
 * pending and is sent again (same id) on the next pass.
 */
export function createActionDispatcher(deps: {
  db: Db;
  bus: CommandBus;
  topics: Topics;
  logger: Logger;
  expanders?: Expanders;
  now?: () => number;
  intervalMs?: number;
  batchSize?: number;
}) {
  const { db, bus, topics } = deps;
  const logger = deps.logger.child({ component: 'saga-dispatcher' });
  const now = deps.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;

  async function send(
    a: ActionRow,
    cmd: { step: string; aggregate: AggregateName; aggregateId: string; type: string; payload: Record<string, unknown> },
  ) {
    return bus.send(topics[cmd.aggregate], {
      meta: {
        commandId: cmd.step === '' ? a.action_id : deterministicUuid(`${a.action_id}/${cmd.step}`),
        aggregateId: cmd.aggregateId,
        tenantId: a.tenant_id,
        correlationId: a.correlation_id,
        causationId: a.cause_event_id,
        now: now(),
      },
      type: cmd.type,
      payload: cmd.payload,
    });
  }

  /** One pass: sends every action due now; returns how many were settled. */
  async function runDue(): Promise<number> {
    let settled = 0;
    for (;;) {
      const n = await db.transaction(async (trx) => {
        const due = (await trx<ActionRow>(ACTIONS)
          .where('status', 'pending')
          .andWhere('due_at', '<=', new Date(now()))
          .orderBy('due_at')
          .limit(deps.batchSize ?? 50)
          .forUpdate()
          .skipLocked()) as ActionRow[];
        for (const a of due) {
          const commands =
            a.kind === 'command'
              ? [{ step: '', aggregate: a.aggregate!, aggregateId: a.aggregate_id!, type: a.command_type!, payload: a.payload }]
              : await (deps.expanders?.[a.kind] ?? (() => Promise.reject(new Error(`no expander for ${a.kind}`))))(a, trx);
          const outcomes: string[] = [];
          let refused = false;
          for (const c of commands) {
            const reply = await send(a, c);
            outcomes.push(
              reply.ok
                ? `${c.type} ${c.aggregateId}: ok v${reply.version}`
                : `${c.type} ${c.aggregateId}: ${reply.status} ${reply.message}`,
            );
            if (!reply.ok) refused = true;
          }
          if (refused && a.compensation) {
            const c = a.compensation;
            const reply = await send(a, {
              step: 'compensation',
              aggregate: c.aggregate,
              aggregateId: c.aggregateId,
              type: c.type,
              payload: c.payload,
            });
            outcomes.push(`compensation ${c.type} ${c.aggregateId}: ${reply.ok ? 'ok' : reply.message}`);
          }
          await trx(ACTIONS)
            .where('action_id', a.action_id)
            .update({ status: refused && a.kind === 'command' ? 'rejected' : 'done', result: outcomes.join('; ') || 'nothing to do' });
        }
        return due.length;
      });
      settled += n;
      if (n < (deps.batchSize ?? 50)) return settled;
    }
  }

  const tick = async () => {
    if (stopped) return;
    running = runDue().catch((err: unknown) => {
      if (!isRetriable(err)) logger.error({ err: (err as Error).message }, 'dispatching saga actions failed');
      return 0;
    });
    await running;
    if (!stopped) timer = setTimeout(tick, deps.intervalMs ?? 500);
  };

  return {
    runDue,
    start(): void {
      stopped = false;
      timer = setTimeout(tick, 0);
    },
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
