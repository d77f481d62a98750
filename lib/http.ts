import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { z } from 'zod';
import { CommandNotSentError, CommandTimeoutError, type CommandBus } from './command-bus';
import { deterministicUuid, type CommandMeta } from './decider';
import { DomainError, invalid } from './errors';
import { authenticate, maybeActor } from './auth';
import type { AuthConfig } from './config';
import type { Logger } from './logger';
import { isRetriable } from './retry';
import { encodeToken } from './consistency';
import { commandResultSchema, openApiDocument, openApiPath, type Operation } from './openapi';
import type { AggregateTopics } from './topics';
import { contextOf, endSpan, SpanKind, startSpan, withSpan } from './tracing';
import { correlationId, id, idempotencyKey, ifMatch, lastEventId, tenantId } from './validation';

/** A JSON problem document (RFC 9457): type, title, status, detail, plus what helps the caller fix the request. */
interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  [extra: string]: unknown;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

function send(ctx: Context, problem: Problem, headers: Record<string, string> = {}): void {
  ctx.status = problem.status;
  ctx.set(headers);
  ctx.type = 'application/problem+json';
  ctx.body = problem;
}

const problem = (status: number, code: string, detail: string, extra: Record<string, unknown> = {}): Problem => ({
  type: `https://cloudphone.example/problems/${code}`,
  title: TITLES[status] ?? 'Error',
  status,
  detail,
  ...extra,
});

/** How deep a request body may nest (the API's deepest body is 2 levels: amount.amount). */
export const MAX_BODY_DEPTH = 32;

/** At most this many field errors are listed in a problem (the rest are counted in `omittedErrors`). */
export const MAX_FIELD_ERRORS = 20;
/** A field name as a problem shows it: at most 100 characters (a caller's key can be of any length). */
const fieldName = (name: string) => (name.length > 100 ? `${name.slice(0, 100)}…` : name);

/** The field-by-field list of what is wrong with a request. */
export const fieldErrors = (error: z.ZodError) =>
  error.issues.flatMap((i) => {
    const at = (key?: string) => fieldName([...i.path.map(String), ...(key === undefined ? [] : [key])].join('.') || '(body)');
    // An unknown field is named as the field itself, not as its parent object.
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ field: at(k), message: `unknown field "${fieldName(k)}"` }));
    return [{ field: at(), message: i.message }];
  });

/** Validates input with a zod schema; a mismatch is a 400 naming every bad field (the first MAX_FIELD_ERRORS). */
export function parse<T extends z.ZodType>(schema: T, input: unknown, what = 'request body'): z.infer<T> {
  const result = schema.safeParse(input);
  if (!result.success) {
    const errors = fieldErrors(result.error);
    const omitted = errors.length - MAX_FIELD_ERRORS;
    throw invalid(`invalid ${what}`, { errors: errors.slice(0, MAX_FIELD_ERRORS), ...(omitted > 0 ? { omittedErrors: omitted } : {}) });
  }
  return result.data;
}

/** The headers the platform reads, each checked on every request that carries it (a 400 naming the header). */
const HEADERS: ReadonlyArray<[string, z.ZodType]> = [
  ['Idempotency-Key', idempotencyKey],
  ['X-Correlation-Id', correlationId],
  ['X-Tenant-Id', tenantId],
  ['If-Match', ifMatch],
  ['Last-Event-ID', lastEventId],
];
const checkHeaders: Koa.Middleware = async (ctx, next) => {
  for (const [name, schema] of HEADERS) {
    const value = ctx.headers[name.toLowerCase()];
    if (value === undefined) continue;
    if (!schema.safeParse(value).success) {
      const message = schema.safeParse(typeof value === 'string' ? value : '').error?.issues[0]?.message ?? `${name} is malformed`;
      throw new DomainError(400, 'invalid_header', `invalid ${name} header: ${message}`, { header: name });
    }
  }
  await next();
};

/** A request body that is not JSON on a JSON API is refused (415), never read as `{}`. */
const jsonOnly: Koa.Middleware = async (ctx, next) => {
  const hasBody = ctx.req.headers['transfer-encoding'] !== undefined || Number(ctx.req.headers['content-length'] ?? 0) > 0;
  if (hasBody && !ctx.is('application/json', '+json')) {
    throw new DomainError(415, 'unsupported_media_type', `the body must be application/json, not ${ctx.get('Content-Type') || 'untyped'}`);
  }
  await next();
};

/**
 * Maps every error to a JSON problem: domain errors to their status, bad input to 4xx, Kafka outages and
 * transient failures of PostgreSQL or the registry to 503 with Retry-After.
 */
/** An error of koa, the body parser or the router that carries a 4xx status (or 501) for the caller. */
const isHttpError = (err: unknown): boolean => {
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && ((status >= 400 && status < 500) || status === 501);
};
/** zlib's error for a body that is not what its Content-Encoding says. */
const isCompressionError = (err: unknown): boolean => /^Z_/.test(String((err as { code?: unknown }).code ?? ''));

function errors(logger: Logger, bodyLimit: string): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        send(ctx, problem(404, 'no_route', `no route for ${ctx.method} ${ctx.path}`));
      }
    } catch (err) {
      if (err instanceof DomainError) {
        send(ctx, problem(err.status, err.code, err.message, err.details), err.status === 503 ? { 'Retry-After': '1' } : {});
      } else if (err instanceof CommandTimeoutError || err instanceof CommandNotSentError) {
        logger.warn({ err: err.message, path: ctx.path }, 'command not confirmed');
        send(ctx, problem(503, 'command_unconfirmed', err.message), { 'Retry-After': '1' });
      } else if (isHttpError(err)) {
        // Errors of the body parser (malformed JSON, body too large, bad encoding) and of the router (wrong method).
        const e = err as { status: number; message: string; body?: unknown };
        const title = TITLES[e.status] ?? 'Bad Request';
        let detail = e.message;
        if (e.status === 400 && (e.body !== undefined || /JSON/.test(e.message))) detail = `malformed JSON body: ${e.message}`;
        if (e.status === 405) detail = `${ctx.method} is not allowed on ${ctx.path}`;
        if (e.status === 501) detail = `${ctx.method.slice(0, 20)} is not a method this API serves`;
        if (e.status === 413) detail = `request body too large (the limit is ${bodyLimit})`;
        send(ctx, problem(e.status, title.toLowerCase().replace(/\W+/g, '_'), detail));
      } else if (isCompressionError(err)) {
        send(ctx, problem(400, 'bad_content_encoding', `the body is not valid ${ctx.get('Content-Encoding').slice(0, 20)}`));
      } else if (isRetriable(err)) {
        // A part the request needs is down or restarting (PostgreSQL, the registry): an answer, not a 500.
        logger.warn({ err: (err as Error).message, path: ctx.path }, 'dependency unavailable');
        send(ctx, problem(503, 'unavailable', 'a part of the platform is unavailable right now; retry shortly'), { 'Retry-After': '1' });
      } else {
        logger.error({ err, path: ctx.path, method: ctx.method }, 'unhandled error');
        send(ctx, problem(500, 'internal', 'internal error; the request was logged'));
      }
    }
  };
}

/** The HTTP server's limits on slow and long-lived clients (README: Command API). */
export const HTTP_LIMITS = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxRequestsPerSocket: 1_000 };

/**
 * Requests Node's HTTP parser refuses before Koa sees them (a NUL or control byte in a header, headers past 16 KB,
 * a malformed request line): answered as problem JSON too, then the connection is closed.
 */
function clientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, detail]: [number, string, string] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', `the request did not arrive in time (its headers within ${HTTP_LIMITS.headersTimeoutMs} ms)`]
        : [400, 'bad_request', 'the request is not valid HTTP (a header holds a forbidden character?)'];
  const body = JSON.stringify(problem(status, code, detail));
  socket.end(
    `HTTP/1.1 ${status} ${TITLES[status]}\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export interface HttpApp {
  app: Koa;
  /** Every route the routers serve (method and OpenAPI path), e.g. `get /devices/{id}`. */
  routes: string[];
  /** The OpenAPI document served at GET /openapi.json. */
  document: ReturnType<typeof openApiDocument>;
  listen(port: number, host?: string): Promise<{ server: Server; url: string }>;
}

/** GET /openapi.json: the document of every operation the app serves (this one included). */
const openApiOperation: Operation = {
  method: 'get',
  path: '/openapi.json',
  summary: 'This OpenAPI document',
  tag: 'operations',
  access: 'public',
  responses: { 200: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }) },
  problems: [],
};

/**
 * A span per request (lib/tracing.ts), the child of the caller's `traceparent` when it sent one, named by its route
 * (never by the path: ids stay out of span names); what the request sends to Kafka carries it.
 */
const traced: Koa.Middleware = async (ctx, next) => {
  const span = startSpan(`${ctx.method} (unrouted)`, {
    parent: contextOf(ctx.headers),
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': ctx.method },
  });
  try {
    await withSpan(span, next);
  } finally {
    const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
    if (typeof route === 'string') span.updateName(`${ctx.method} ${route}`);
    span.setAttribute('http.response.status_code', ctx.status);
    endSpan(span, ctx.status >= 500 ? `answered ${ctx.status}` : undefined);
  }
};

/**
 * The Koa app: error middleware first, a strict JSON body parser (1 MB), then the routers, and GET /openapi.json
 * describing `operations` (the slices list theirs next to their routes).
 */
export function createHttpApp(deps: { logger: Logger; routers: Router[]; operations?: readonly Operation[]; bodyLimit?: string }): HttpApp {
  const app = new Koa();
  app.silent = true;
  const bodyLimit = deps.bodyLimit ?? '64kb';
  const document = openApiDocument([...(deps.operations ?? []), openApiOperation], {
    title: 'CloudPhone Events API',
    version: '1',
    description: 'Commands (write side) and queries (read models) of the cloud-phone platform. Errors are application/problem+json.',
  });
  const docs = new Router();
  docs.get(openApiOperation.path, (ctx) => {
    ctx.body = document;
  });
  const routers = [docs, ...deps.routers];
  app.use(traced);
  app.use(errors(deps.logger, bodyLimit));
  app.use(checkHeaders);
  app.use(jsonOnly);
  // Malformed JSON (400) and bodies over the limit (413) are thrown with their status to the error middleware;
  // DELETE bodies are read too (a reason for the deletion).
  app.use(
    bodyParser({ enableTypes: ['json'], jsonLimit: bodyLimit, encoding: 'utf-8', parsedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'] }),
  );
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods({ throw: true }));
  }
  const routes = routers.flatMap((r) =>
    r.stack.flatMap((layer) =>
      layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m.toLowerCase()} ${openApiPath(String(layer.path).replace(/(.)\/$/, '$1'))}`),
    ),
  );
  return {
    app,
    routes,
    document,
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        const server = createServer(
          {
            // Slow clients are cut off: the headers must arrive within 10 s and the whole request within 30 s
            // (a reply may take longer: a command waits up to COMMAND_TIMEOUT_MS); checked every second.
            headersTimeout: HTTP_LIMITS.headersTimeoutMs,
            requestTimeout: HTTP_LIMITS.requestTimeoutMs,
            connectionsCheckingInterval: 1_000,
            keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs,
          },
          app.callback(),
        );
        server.maxRequestsPerSocket = HTTP_LIMITS.maxRequestsPerSocket;
        server.listen(port, host);
        server.on('clientError', clientError);
        server.once('error', reject);
        server.once('listening', () => {
          const addr = server.address();
          const actual = typeof addr === 'object' && addr ? addr.port : port;
          resolve({ server, url: `http://${host}:${actual}` });
        });
      }),
  };
}

/** What a command route needs: the bus, the clock (injected, so tests control time) and who signs tokens. */
export interface CommandDeps {
  bus: CommandBus;
  now: () => number;
  auth: AuthConfig;
  /** Refuses (403) a `user` whose account may not act now: suspended, banned, deleted or unknown (services/user). */
  checkActor: (ctx: Context) => Promise<void>;
}

/**
 * The authentication of a command route: a valid token, and for a `user` an account that may act (asked of the
 * user's writer). With `optional`, an anonymous request passes (the open sign-up).
 */
export function commandAuth(deps: CommandDeps, opts: { optional?: boolean } = {}): Koa.Middleware {
  const authn = authenticate(deps.auth, opts);
  return (ctx, next) =>
    authn(ctx, async () => {
      await deps.checkActor(ctx);
      await next();
    });
}

/**
 * Checks, with the user's writer, that the caller may name this user in a command of another aggregate (the
 * user exists in the caller's tenant and is not deleted; a `user` may name only themselves): 404 or 409 otherwise.
 */
export type CheckUser = (ctx: Context, userId: string) => Promise<void>;

/**
 * The tenant a command acts in: the token's. Only the open sign-up (POST /users without a token) takes it from
 * X-Tenant-Id (default `default`).
 */
export const tenantOf = (ctx: Context): string => maybeActor(ctx)?.tenantId ?? (ctx.get('X-Tenant-Id') || 'default');

/**
 * The digest of a request: method, path and body (keys sorted). A command sent with an Idempotency-Key carries
 * it, and its writer refuses the key with another request (422) instead of replaying the first one's result.
 */
export function requestHash(ctx: Context): string {
  // Asked for several times per request (the account check, reservation claims, the command): digested once.
  const known = ctx.state.requestHash as string | undefined;
  if (known !== undefined) return known;
  // No body of this API is more than a few levels deep; a deeper one is refused before it could exhaust the stack.
  const canonical = (v: unknown, depth: number): unknown => {
    if (depth > MAX_BODY_DEPTH) throw invalid(`the body is nested more than ${MAX_BODY_DEPTH} levels deep`);
    if (Array.isArray(v)) return v.map((x) => canonical(x, depth + 1));
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k], depth + 1)]),
    );
  };
  const digest = createHash('sha256')
    .update(`${ctx.method} ${ctx.path}\n${JSON.stringify(canonical(ctx.request.body ?? {}, 0))}`)
    .digest('hex');
  ctx.state.requestHash = digest;
  return digest;
}

/**
 * Whose Idempotency-Keys these are: the same key from another caller is another command. Anonymous callers (the
 * open sign-up) cannot be told apart, so their key is scoped by the request too: another caller's key with
 * another body is another command, never a replay of someone else's result.
 */
const keyScope = (ctx: Context) => {
  const actor = maybeActor(ctx);
  return actor ? `${actor.tenantId}/${actor.userId}` : `${tenantOf(ctx)}/-/${requestHash(ctx)}`;
};

/**
 * Builds the metadata of a command from the request: the actor and its tenant (bearer token), correlation
 * (X-Correlation-Id), expected version (If-Match), and the command id — derived from the Idempotency-Key when
 * there is one, so a retried request is the same command and the aggregate's writer answers it with the first
 * result.
 */
export function commandMeta(ctx: Context, deps: Pick<CommandDeps, 'now'>, aggregateId: string, route: string): CommandMeta {
  const key = ctx.get('Idempotency-Key');
  const match = ctx.get('If-Match');
  return {
    commandId: key ? deterministicUuid(`command/${keyScope(ctx)}/${route}/${aggregateId}/${key}`) : randomUUID(),
    aggregateId,
    tenantId: tenantOf(ctx),
    correlationId: ctx.get('X-Correlation-Id') || randomUUID(),
    causationId: null,
    now: deps.now(),
    expectedVersion: match ? parse(ifMatch, match, 'If-Match header') : undefined,
    actor: maybeActor(ctx) ?? null,
    requestHash: key ? requestHash(ctx) : undefined,
  };
}

/** The aggregate id in the path, checked (a malformed id is a 400, not a lookup). */
export const pathId = (ctx: Context) => parse(id, ctx.params.id, 'id in the path');

/** The id of an aggregate a POST creates: derived from the Idempotency-Key when there is one (a retry creates nothing new). */
export function newAggregateId(ctx: Context, route: string): string {
  const key = ctx.get('Idempotency-Key');
  return key ? deterministicUuid(`aggregate/${keyScope(ctx)}/${route}/${key}`) : randomUUID();
}

/**
 * Sends one command and answers the request: 201/200 with the aggregate id, its new version, the ids of the
 * events appended and the position of the last one; a rejection becomes its 4xx problem.
 */
export async function runCommand(
  ctx: Context,
  deps: CommandDeps,
  topics: AggregateTopics,
  command: { meta: CommandMeta; type: string; payload: Record<string, unknown>; created?: boolean },
): Promise<void> {
  const reply = await deps.bus.send(topics, command);
  if (!reply.ok) throw new DomainError(reply.status as DomainError['status'], reply.code, reply.message, reply.details);
  ctx.status = command.created && !reply.duplicate ? 201 : 200;
  if (reply.duplicate) ctx.set('Idempotent-Replayed', 'true');
  ctx.set('ETag', `"${reply.version}"`);
  ctx.body = {
    id: reply.aggregateId,
    version: reply.version,
    eventIds: [...reply.eventIds],
    position: reply.position,
    consistencyToken: reply.position ? encodeToken([reply.position]) : null,
  } satisfies z.infer<typeof commandResultSchema>;
}
