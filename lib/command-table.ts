import Router from '@koa/router';
import type { Context } from 'koa';
import type { z } from 'zod';
import { tenantAdminOnly } from './auth';
import { commandAuth, commandMeta, newAggregateId, parse, pathId, runCommand, type CheckUser, type CommandDeps } from './http';
import { commandOperation, type Access, type Operation } from './openapi';
import type { AggregateTopics, Topics } from './topics';

/**
 * A command table: an aggregate's command API declared once, typed by its decider's command union. Each row says
 * which HTTP request sends which command — method, path, body schema, who may call, and how the validated body
 * becomes the command's payload. `commandRouter` builds the Koa routes from it, `tableOperations` the OpenAPI
 * operations, `tableEndpoints` the lines `npm start` prints. A command type the decider does not know, or a
 * payload that does not fit it, is a compile error.
 */

/** The payload of one command of the union `C`: the command without its `type`. */
export type PayloadOf<C extends { readonly type: string }, T extends C['type']> = Omit<Extract<C, { readonly type: T }>, 'type'>;

/** What a command table's routes are given: the command deps, the namespace's topics, the user check. */
export type TableDeps = CommandDeps & { topics: Topics; checkUser: CheckUser };

/** One row: an HTTP request that sends one command. */
export interface CommandRoute<C extends { readonly type: string }, T extends C['type'] = C['type'], B extends z.ZodType = z.ZodType> {
  readonly method: 'post' | 'patch' | 'delete';
  /** Relative to the table's prefix: `''` sends to a new aggregate (a create), `/:id…` to the one in the path. */
  readonly path: '' | `/:id${string}`;
  readonly summary: string;
  /**
   * `user`: any valid token of an account that may act; `tenant_admin`: a tenant admin's token only (403 for a
   * user); `signup`: no token needed (the route's `before` says who may).
   */
  readonly access: Extract<Access, 'user' | 'tenant_admin' | 'signup'>;
  readonly body: B;
  /** The command's name in idempotency keys and derived ids (e.g. `start-device`): never change it once deployed. */
  readonly name: string;
  readonly type: T;
  readonly payload: (input: z.infer<B>) => PayloadOf<C, T>;
  /** 201 for a new aggregate (200 when the same request is retried). */
  readonly created?: boolean;
  /** Refusals before the body is read (who may call this, on this aggregate). */
  readonly before?: (ctx: Context, deps: TableDeps) => void;
  /** The user the body names, checked with the user's writer (it exists in the caller's tenant; a user: themselves). */
  readonly namesUser?: (input: z.infer<B>) => string;
  /** Wraps the sending of the command (e.g. claims a username first, and gives it back when the command is refused). */
  readonly around?: (ctx: Context, deps: TableDeps, input: z.infer<B>, aggregateId: string, send: () => Promise<void>) => Promise<void>;
}

export interface CommandTable<C extends { readonly type: string }> {
  /** `/devices` */
  readonly prefix: string;
  /** The OpenAPI tag. */
  readonly tag: string;
  /** The topics of the aggregate the commands go to. */
  readonly topics: (topics: Topics) => AggregateTopics;
  readonly routes: ReadonlyArray<CommandRoute<C>>;
}

/** A table of any aggregate (the composition root lists them all). */
export type AnyCommandTable = CommandTable<{ readonly type: string }>;

/**
 * A row builder for the command union `C`: `commandRow<DeviceCommand>()({ … })` infers the command type and the
 * body, and checks the payload against that command.
 */
export const commandRow =
  <C extends { readonly type: string }>() =>
  <T extends C['type'], B extends z.ZodType>(r: CommandRoute<C, T, B>): CommandRoute<C> =>
    r as unknown as CommandRoute<C>;

/** The Koa router of a command table. */
export function commandRouter(table: AnyCommandTable, deps: TableDeps): Router {
  const router = new Router({ prefix: table.prefix });
  const auth = commandAuth(deps);
  const optionalAuth = commandAuth(deps, { optional: true });
  for (const r of table.routes) {
    const guards = r.access === 'signup' ? [optionalAuth] : r.access === 'tenant_admin' ? [auth, tenantAdminOnly] : [auth];
    router[r.method](r.path || '/', ...guards, async (ctx: Context) => {
      const existing = r.path === '' ? undefined : pathId(ctx);
      r.before?.(ctx, deps);
      const input = parse(r.body, ctx.request.body ?? {});
      if (r.namesUser) await deps.checkUser(ctx, r.namesUser(input));
      const aggregateId = existing ?? newAggregateId(ctx, r.name);
      const send = () =>
        runCommand(ctx, deps, table.topics(deps.topics), {
          meta: commandMeta(ctx, deps, aggregateId, r.name),
          type: r.type,
          payload: r.payload(input) as Record<string, unknown>,
          created: r.created,
        });
      await (r.around ? r.around(ctx, deps, input, aggregateId, send) : send());
    });
  }
  return router;
}

/** The OpenAPI operations of a command table. */
export const tableOperations = (table: AnyCommandTable): Operation[] =>
  table.routes.map((r) =>
    commandOperation({
      method: r.method,
      path: `${table.prefix}${r.path}`,
      summary: r.summary,
      tag: table.tag,
      access: r.access,
      body: r.body,
      created: r.created,
    }),
  );

/** One line per route, as `npm start` prints them. */
export const tableEndpoints = (table: AnyCommandTable): string[] =>
  table.routes.map((r) => `${r.method.toUpperCase().padEnd(6)} ${`${table.prefix}${r.path}`.padEnd(27)} ${r.summary}`);
