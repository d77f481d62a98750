import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { maybeActor, signupOpen } from '../../lib/auth';
import { commandRow, type CommandTable } from '../../lib/command-table';
import { DomainError, forbidden, notFound } from '../../lib/errors';
import { commandMeta, pathId, tenantOf, type CheckUser, type CommandDeps } from '../../lib/http';
import type { Topics } from '../../lib/topics';
import { fields, reason } from '../../lib/validation';
import { reservationId } from '../reservation/decider';
import type { ReservationKind } from '../reservation/events';
import type { UserCommand } from './decider';

const { username, email, phone } = fields;

const registerBody = z.strictObject({ username, email, phone: phone.nullable().optional() });
const updateBody = z
  .strictObject({ username: username.optional(), email: email.optional(), phone: phone.optional() })
  .refine((b) => Object.values(b).some((v) => v !== undefined), 'give at least one of username, email, phone');
const statusBody = z.strictObject({ status: fields.status, reason });
const deleteBody = z.strictObject({ reason });

type Deps = CommandDeps & { topics: Topics };

/**
 * Metadata of a reservation command sent on behalf of a user request: the request's If-Match is the user's, not
 * the reservation's; and it is the API's own bookkeeping (no actor): the user command decides who may act.
 */
const reservationMeta = (ctx: Context, deps: Deps, id: string, route: string) => ({
  ...commandMeta(ctx, deps, id, route),
  expectedVersion: undefined,
  actor: null,
});

interface Claim {
  kind: ReservationKind;
  value: string;
  /** False when the owner held the value already (nothing to undo). */
  fresh: boolean;
}

/**
 * Reserves unique values (username, email within the tenant) for a user through the reservation aggregate, whose
 * single writer decides who holds each value. On a refusal the claims made so far are released and the refusal
 * is thrown (409 naming the field).
 */
async function claimAll(ctx: Context, deps: Deps, ownerId: string, values: Array<[ReservationKind, string | undefined]>): Promise<Claim[]> {
  const claims: Claim[] = [];
  const tenantId = tenantOf(ctx);
  for (const [kind, value] of values) {
    if (value === undefined) continue;
    const meta = reservationMeta(ctx, deps, reservationId(tenantId, kind, value), `claim-${kind}`);
    const reply = await deps.bus.send(deps.topics.reservation, { meta, type: 'ClaimReservation', payload: { ownerId, kind, value } });
    if (!reply.ok) {
      await releaseAll(ctx, deps, ownerId, claims);
      throw new DomainError(reply.status as DomainError['status'], reply.code, reply.message, reply.details);
    }
    claims.push({ kind, value, fresh: reply.eventIds.length > 0 });
  }
  return claims;
}

async function releaseAll(ctx: Context, deps: Deps, ownerId: string, claims: Claim[]): Promise<void> {
  const tenantId = tenantOf(ctx);
  for (const c of claims.filter((x) => x.fresh)) {
    const meta = reservationMeta(ctx, deps, reservationId(tenantId, c.kind, c.value), `release-${c.kind}`);
    await deps.bus.send(deps.topics.reservation, { meta, type: 'ReleaseReservation', payload: { ownerId } });
  }
}

/** Sends a user command after the claims; a refused command gives the fresh claims back. */
async function withClaims(ctx: Context, deps: Deps, userId: string, claims: Claim[], send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch (err) {
    if (err instanceof DomainError) await releaseAll(ctx, deps, userId, claims);
    throw err;
  }
}

/**
 * The checkActor of the command routes (lib/http.ts commandAuth): the user's writer answers whether a `user` may act
 * (CheckActor: active, not deleted) before each of their commands. Tenant admins are operators, not accounts of the
 * user aggregate. Nothing is cached: a command sent after a ban or a deletion was answered is refused, on any
 * instance (a cache of "active" answers let a just-suspended user delete their account within its lifetime).
 */
export function actorCheck(deps: Omit<Deps, 'checkActor'>): CommandDeps['checkActor'] {
  return async (ctx) => {
    const actor = maybeActor(ctx);
    if (!actor || actor.role !== 'user') return;
    const meta = commandMeta(ctx, deps, actor.userId, 'check-actor');
    const reply = await deps.bus.send(deps.topics.user, {
      meta: { ...meta, commandId: randomUUID(), expectedVersion: undefined, requestHash: undefined },
      type: 'CheckActor',
      payload: {},
    });
    if (!reply.ok) throw new DomainError(reply.status as DomainError['status'], reply.code, reply.message, reply.details);
  };
}

/** The CheckUser of the command routes that name a user (lib/http.ts): the user's writer answers. */
export function userCheck(deps: Deps): CheckUser {
  return async (ctx, userId) => {
    // A fresh command id each time: the answer is about now, never a replay of an earlier check.
    const meta = { ...commandMeta(ctx, deps, userId, 'check-user'), commandId: randomUUID(), expectedVersion: undefined };
    const reply = await deps.bus.send(deps.topics.user, { meta, type: 'CheckUser', payload: {} });
    if (!reply.ok) throw new DomainError(reply.status as DomainError['status'], reply.code, reply.message, reply.details);
  };
}

const row = commandRow<UserCommand>();

/** A user's own account (the writer checks it too; refused here before any username or email is claimed). */
const own = (ctx: Context) => {
  const actor = maybeActor(ctx)!;
  if (actor.role === 'user' && actor.userId !== pathId(ctx)) throw notFound('user not found');
};

/**
 * The user command API. Registration is open (sign-up: no token, the tenant from X-Tenant-Id) or a tenant
 * admin's; a user changes or deletes their own account; only a tenant admin changes a status. Usernames and emails
 * are unique within a tenant: each is claimed on the reservation aggregate before the user command is sent. Values
 * a user gives up are released by the reservation policy when it sees user.updated / user.deleted.
 */
export const userCommands: CommandTable<UserCommand> = {
  prefix: '/users',
  tag: 'users',
  topics: (t) => t.user,
  routes: [
    row({
      method: 'post',
      path: '',
      summary: 'Register a user (open sign-up, or a tenant admin)',
      access: 'signup',
      body: registerBody,
      name: 'register-user',
      type: 'RegisterUser',
      created: true,
      before: (ctx, deps) => {
        const actor = maybeActor(ctx);
        if (actor?.role === 'user') throw forbidden('a user cannot register users: sign up without a token, or ask a tenant admin');
        // Anonymous: only into a registered tenant that takes open sign-up (an unknown and a closed tenant look alike).
        if (!actor && !signupOpen(deps.auth, tenantOf(ctx)))
          throw new DomainError(403, 'signup_closed', 'sign-up is not open for this tenant');
      },
      around: async (ctx, deps, input, userId, send) => {
        const claims = await claimAll(ctx, deps, userId, [
          ['username', input.username],
          ['email', input.email],
        ]).catch((err: unknown) => {
          // An anonymous caller is not told which of the two is taken (a tenant admin is).
          if (!maybeActor(ctx) && err instanceof DomainError && err.status === 409)
            throw new DomainError(409, 'signup_conflict', 'this username or email cannot be used; choose others, or sign in');
          throw err;
        });
        await withClaims(ctx, deps, userId, claims, send);
      },
      payload: (b) => ({ username: b.username, email: b.email, phone: b.phone ?? null }),
    }),
    row({
      method: 'patch',
      path: '/:id',
      summary: 'Change a user’s username, email or phone (a user: their own)',
      access: 'user',
      body: updateBody,
      name: 'update-user',
      type: 'UpdateUser',
      before: own,
      around: async (ctx, deps, input, userId, send) => {
        const claims = await claimAll(ctx, deps, userId, [
          ['username', input.username],
          ['email', input.email],
        ]);
        await withClaims(ctx, deps, userId, claims, send);
      },
      payload: (b) => b,
    }),
    row({
      method: 'post',
      path: '/:id/status',
      summary: 'Change a user’s status',
      access: 'tenant_admin',
      body: statusBody,
      name: 'change-user-status',
      type: 'ChangeUserStatus',
      payload: (b) => ({ status: b.status, reason: b.reason ?? null }),
    }),
    row({
      method: 'post',
      path: '/:id/erase',
      summary: 'Erase a user’s personal data (closing the account if it is open); their money records stay',
      access: 'tenant_admin',
      body: deleteBody,
      name: 'erase-user',
      type: 'EraseUser',
      payload: (b) => ({ reason: b.reason ?? null }),
    }),
    row({
      method: 'delete',
      path: '/:id',
      summary: 'Delete a user and erase their personal data (a user: their own account)',
      access: 'user',
      body: deleteBody,
      name: 'delete-user',
      type: 'DeleteUser',
      payload: (b) => ({ reason: b.reason ?? null }),
    }),
  ],
};
