import { createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { DomainError, forbidden } from './decider';
import { id, tenantId } from './validation';

/** Who is asking: from a bearer JWT (HS256) carrying userId, tenantId and role. */
export interface Actor {
  readonly userId: string;
  readonly tenantId: string;
  readonly role: 'user' | 'tenant_admin';
}

/** The claims of a token (and the actor a command message carries). */
export const actorSchema = z.object({ userId: id, tenantId, role: z.enum(['user', 'tenant_admin']) });

const unauthorized = (detail: string) => new DomainError(401, 'unauthorized', detail);

/** Signs a token (the dev-token CLI and the tests use it). */
export function signToken(secret: string, actor: Actor, expiresIn: jwt.SignOptions['expiresIn'] = '12h'): string {
  return jwt.sign({ userId: actor.userId, tenantId: actor.tenantId, role: actor.role }, secret, { algorithm: 'HS256', expiresIn });
}

/**
 * Requires a valid bearer token and puts its actor on ctx.state.actor; 401 otherwise. With `optional`, a request
 * without an Authorization header passes as anonymous (no actor) — a header that is there must still be valid.
 */
export function authenticate(secret: string, opts: { optional?: boolean } = {}): Middleware {
  // A KeyObject made once: given the secret as a string, jsonwebtoken first tries it as a public key on every
  // verify, and that failed parse cost a quarter of a query's CPU (npm run bench, README Benchmarks).
  const key = createSecretKey(Buffer.from(secret, 'utf8'));
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    if (!header && opts.optional) return next();
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw unauthorized(header ? 'the Authorization header must be "Bearer <token>"' : 'a bearer token is required');
    let payload: unknown;
    try {
      payload = jwt.verify(m[1]!, key, { algorithms: ['HS256'] });
    } catch (err) {
      throw unauthorized(`invalid token: ${(err as Error).message}`);
    }
    const parsed = actorSchema.safeParse(payload);
    if (!parsed.success) throw unauthorized('the token lacks a valid userId, tenantId or a known role');
    ctx.state.actor = parsed.data satisfies Actor;
    await next();
  };
}

/** The authenticated actor (routes behind `authenticate`). */
export const actorOf = (ctx: Context): Actor => ctx.state.actor as Actor;

/** The actor, or undefined for an anonymous request (routes behind `authenticate(…, { optional: true })`). */
export const maybeActor = (ctx: Context): Actor | undefined => ctx.state.actor as Actor | undefined;

/**
 * Operator commands: only a tenant admin may send them (403 for a user, whatever the id: nothing leaks). Which
 * aggregates the admin may touch is still decided by the aggregate's writer (their tenant only).
 */
export const tenantAdminOnly: Middleware = async (ctx, next) => {
  if (maybeActor(ctx)?.role !== 'tenant_admin') throw forbidden(`only a tenant admin may ${ctx.method} ${ctx.path}`);
  await next();
};
