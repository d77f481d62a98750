import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  timingSafeEqual,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import jwt from 'jsonwebtoken';
import type { Knex } from 'knex';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { AuthConfig } from './config';
import { DomainError, forbidden } from './errors';
import { secretFile } from './secret-file';
import { id, tenantId } from './validation';

/** Who is asking: from a bearer JWT (ES256 or RS256, from the identity provider) carrying userId, tenantId and role. */
export interface Actor {
  readonly userId: string;
  readonly tenantId: string;
  readonly role: 'user' | 'tenant_admin';
}

/** The claims of a token (and the actor a command message carries). */
export const actorSchema = z.object({ userId: id, tenantId, role: z.enum(['user', 'tenant_admin']) });

const unauthorized = (detail: string) => new DomainError(401, 'unauthorized', detail);

/** The issuer of the development key pair: refused in production (lib/config.ts). */
export const DEV_ISSUER = 'cloudphone-dev';

interface DevKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicJwk: JsonWebKey;
}
const devKeys = new Map<string, DevKey>();

/**
 * The development signing key (ES256), made on first use into the stack folder and kept there: `npm run token`,
 * `npm start` and the tests sign with it, and the platform verifies against its public half as a local JWKS.
 * Production has no such key: tokens come from the identity provider named by AUTH_ISSUER and AUTH_JWKS_URL.
 */
export function devKey(file: string): DevKey {
  let key = devKeys.get(file);
  if (key) return key;
  const jwk = JSON.parse(
    secretFile(file, () => JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }))),
  ) as JsonWebKey;
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const publicJwk = createPublicKey(privateKey).export({ format: 'jwk' });
  // The key id is made from the public point: stable for the file, another for another key.
  const kid = `dev-${Buffer.from(`${publicJwk.x}.${publicJwk.y}`).toString('base64url').slice(0, 16)}`;
  key = { kid, privateKey, publicJwk: { ...publicJwk, kid, alg: 'ES256', use: 'sig' } };
  devKeys.set(file, key);
  return key;
}

/**
 * Signs a token with the development key (`npm run token`, `npm start`'s demo, the tests): ES256, with the
 * issuer, audience, issue time and expiry the platform requires. There is no such key in production.
 */
export function signToken(auth: AuthConfig, actor: Actor, expiresIn: jwt.SignOptions['expiresIn'] = '12h'): string {
  if (!auth.devKeyFile) throw new Error('no development signing key: in production, tokens come from the identity provider (AUTH_ISSUER)');
  const key = devKey(auth.devKeyFile);
  return jwt.sign({ userId: actor.userId, tenantId: actor.tenantId, role: actor.role }, key.privateKey, {
    algorithm: 'ES256',
    keyid: key.kid,
    issuer: auth.issuer,
    audience: auth.audience,
    expiresIn,
  });
}

/** A token verifier: the identity provider's JWKS (fetched and cached by jose), or the development key's. */
function createVerifier(auth: AuthConfig) {
  const keys: JWTVerifyGetKey = auth.jwksUrl
    ? createRemoteJWKSet(new URL(auth.jwksUrl), { timeoutDuration: 5_000, cooldownDuration: 30_000 })
    : createLocalJWKSet({ keys: [devKey(auth.devKeyFile!).publicJwk as Parameters<typeof createLocalJWKSet>[0]['keys'][number]] });
  // Verified tokens are remembered until they expire (a signature check costs more than the rest of a query).
  const verified = new Map<string, { actor: Actor; exp: number }>();
  return async (token: string): Promise<{ actor: Actor; exp: number }> => {
    const now = Date.now() / 1000;
    const known = verified.get(token);
    if (known && known.exp > now) return known;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: auth.issuer,
        audience: auth.audience,
        algorithms: ['ES256', 'RS256'],
        requiredClaims: ['exp', 'iat'],
        maxTokenAge: auth.maxLifetimeSeconds,
        clockTolerance: 30,
      }));
    } catch (err) {
      if (err instanceof errors.JWKSTimeout || (err as { code?: string }).code === 'ERR_JOSE_GENERIC') {
        throw new DomainError(503, 'unavailable', 'the identity provider’s keys cannot be fetched right now; retry shortly');
      }
      throw unauthorized(`invalid token: ${(err as Error).message}`);
    }
    const exp = payload.exp as number;
    if (exp - (payload.iat as number) > auth.maxLifetimeSeconds) {
      throw unauthorized(`invalid token: it lives longer than ${auth.maxLifetimeSeconds} s (exp − iat)`);
    }
    const parsed = actorSchema.safeParse(payload);
    if (!parsed.success) throw unauthorized('the token lacks a valid userId, tenantId or a known role');
    if (verified.size >= 10_000) verified.delete(verified.keys().next().value as string);
    const answer = { actor: parsed.data, exp };
    verified.set(token, answer);
    return answer;
  };
}
const verifiers = new WeakMap<AuthConfig, ReturnType<typeof createVerifier>>();

/**
 * Requires a valid bearer token and puts its actor on ctx.state.actor; 401 otherwise. With `optional`, a request
 * without an Authorization header passes as anonymous (no actor) — a header that is there must still be valid.
 * Tokens are JWTs of the configured issuer and audience, with `exp` and `iat`, living at most
 * AUTH_MAX_TOKEN_LIFETIME_S, signed ES256 or RS256 by a key of its JWKS.
 */
export function authenticate(auth: AuthConfig, opts: { optional?: boolean } = {}): Middleware {
  let verify = verifiers.get(auth);
  if (!verify) verifiers.set(auth, (verify = createVerifier(auth)));
  const check = verify;
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    if (!header && opts.optional) return next();
    const m = /^Bearer\s+(\S{1,8192})$/i.exec(header);
    if (!m) throw unauthorized(header ? 'the Authorization header must be "Bearer <token>"' : 'a bearer token is required');
    const { actor, exp } = await check(m[1]!);
    if (!tenantRegistered(auth, actor.tenantId)) throw new DomainError(403, 'tenant_unknown', 'the token’s tenant is not registered here');
    ctx.state.actor = actor;
    ctx.state.tokenExpiresAt = exp;
    await next();
  };
}

/**
 * The operator token of the operations endpoints (/metrics, /projections/status): a bearer secret held by the
 * monitoring (Prometheus' `bearer_token_file`) and the on-call, read from OPS_TOKEN_FILE. On the local stack it is
 * made once into the stack folder (`npm run token -- --ops` prints it); production requires the file.
 */
export function opsToken(auth: AuthConfig): string {
  const make = () => {
    if (auth.jwksUrl) throw new Error(`no operator token at ${auth.opsTokenFile} (OPS_TOKEN_FILE)`);
    return randomBytes(32).toString('base64url');
  };
  return secretFile(auth.opsTokenFile, make).trim();
}

/** Only a caller with the operator token passes (401 otherwise: the operations endpoints show every tenant's figures). */
export function operatorOnly(auth: AuthConfig): Middleware {
  const digest = (v: string) => createHash('sha256').update(v).digest();
  let expected: Buffer | undefined;
  return async (ctx, next) => {
    expected ??= digest(opsToken(auth));
    const m = /^Bearer\s+(\S{1,1024})$/i.exec(ctx.get('Authorization'));
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
      throw new DomainError(
        401,
        'operator_token_required',
        `${ctx.path} needs the operator token (Authorization: Bearer <OPS_TOKEN_FILE>)`,
      );
    }
    await next();
  };
}

/**
 * Whether the tenant is registered (TENANTS; `*` registers every id in development). Own keys only: a tenant id
 * such as `constructor` is a valid id and must not be found on Object.prototype.
 */
export const tenantRegistered = (auth: AuthConfig, tenantId: string) =>
  Object.hasOwn(auth.tenants, tenantId) || Object.hasOwn(auth.tenants, '*');

/** Whether an anonymous caller may sign up into the tenant: it is registered and takes open sign-up. */
export const signupOpen = (auth: AuthConfig, tenantId: string) =>
  (Object.hasOwn(auth.tenants, tenantId) ? auth.tenants[tenantId] : auth.tenants['*']) === 'open';

/** When the request's token expires (seconds since the epoch): what lives longer than a request ends then (GET /stream). */
export const tokenExpiresAt = (ctx: Context): number => ctx.state.tokenExpiresAt as number;

/**
 * Scoping: nobody sees another tenant's rows; a user sees their own; a tenant admin sees the whole tenant.
 * A row outside the scope does not exist for the caller (404, so ids don't leak).
 */
export function scoped(query: Knex.QueryBuilder, actor: Actor, table: string): Knex.QueryBuilder {
  query.where(`${table}.tenant_id`, actor.tenantId);
  if (actor.role !== 'tenant_admin') query.where(`${table}.user_id`, actor.userId);
  return query;
}

/** The same scope in memory: whether the actor may see a row of this tenant and user (GET /stream's changes). */
export const maySee = (actor: Actor, row: { readonly tenantId: string | null; readonly userId: string | null }): boolean =>
  row.tenantId === actor.tenantId && (actor.role === 'tenant_admin' || row.userId === actor.userId);

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
