import { z } from 'zod';
import { correlationId, id, idempotencyKey, ifMatch, lastEventId, tenantId } from './validation';

/**
 * The OpenAPI 3.1 document of the HTTP APIs, generated from the zod schemas the routes parse with (request
 * bodies, query parameters) and the zod schemas of what they answer. Each slice lists its operations next to its
 * routes; the composition root joins them; `GET /openapi.json` serves the result.
 */

/** Who may call an operation. */
export type Access =
  | 'public' // no token
  | 'signup' // no token (the tenant from X-Tenant-Id), or a tenant admin's
  | 'user' // any valid token; the aggregate's writer or the query's scope decides what it reaches
  | 'tenant_admin' // a tenant admin's token only (403 for a user)
  | 'operator'; // the operator token (OPS_TOKEN_FILE) of the operations endpoints

export type HeaderParam = 'Idempotency-Key' | 'If-Match' | 'X-Correlation-Id' | 'X-Consistency-Token' | 'X-Tenant-Id' | 'Last-Event-ID';

export interface Operation {
  readonly method: 'get' | 'post' | 'patch' | 'delete';
  /** In Koa's form, e.g. `/devices/:id`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly access: Access;
  readonly query?: z.ZodObject;
  readonly headers?: readonly HeaderParam[];
  readonly body?: z.ZodType;
  /** Success statuses and their bodies (JSON unless a content type is given). */
  readonly responses: Readonly<Record<number, z.ZodType | { contentType: string; schema: z.ZodType }>>;
  /** Statuses answered with a problem document. */
  readonly problems: readonly number[];
}

/** A JSON problem document (RFC 9457), as every error answers; a 400 names each bad field in `errors`. */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ description: 'A problem (RFC 9457), plus what helps fix the request: errors[], field, currentVersion, refundable…' });

/** The answer to an accepted command (201 created, or 200). */
export const commandResultSchema = z.object({
  id: z.string(),
  version: z.number().int().min(0),
  eventIds: z.array(z.string()),
  position: z.object({ topic: z.string(), partition: z.number().int().min(0), offset: z.string().regex(/^\d+$/) }).nullable(),
  consistencyToken: z.string().nullable(),
});

/** The problems every command may answer: bad input, no token, a role or ownership refusal, unknown or foreign id, conflict, rule, Kafka down. */
const COMMAND_PROBLEMS = [400, 401, 403, 404, 409, 413, 415, 422, 500, 503];

/** A command operation: JSON body in, `commandResultSchema` out (201 for a create, 200 for a retried one). */
export function commandOperation(op: {
  method: Operation['method'];
  path: string;
  summary: string;
  tag: string;
  access: Access;
  body?: z.ZodType;
  created?: boolean;
}): Operation {
  const headers: HeaderParam[] = ['Idempotency-Key', 'X-Correlation-Id'];
  if (op.path.includes(':id')) headers.push('If-Match');
  if (op.access === 'signup') headers.push('X-Tenant-Id');
  return {
    ...op,
    headers,
    responses: op.created ? { 201: commandResultSchema, 200: commandResultSchema } : { 200: commandResultSchema },
    problems: COMMAND_PROBLEMS,
  };
}

/** A query operation: query parameters in (400 for a bad one), JSON out; read-your-writes with X-Consistency-Token (503). */
export function queryOperation(op: { path: string; summary: string; tag: string; query?: z.ZodObject; response: z.ZodType }): Operation {
  return {
    method: 'get',
    path: op.path,
    summary: op.summary,
    tag: op.tag,
    access: 'user',
    query: op.query,
    headers: ['X-Consistency-Token'],
    responses: { 200: op.response },
    problems: op.path.includes(':id') ? [400, 401, 404, 503] : [400, 401, 503],
  };
}

const HEADERS: Record<HeaderParam, { description: string; schema: z.ZodType }> = {
  'Idempotency-Key': {
    description:
      'A retried request with the same key is the same command: it answers the first result and appends nothing. The same key with another method, path or body is a 422 (idempotency_key_reused).',
    schema: idempotencyKey,
  },
  'If-Match': {
    description: 'The version you last saw, e.g. "3"; a different current version is a 409 with currentVersion.',
    schema: ifMatch,
  },
  'X-Correlation-Id': { description: 'Carried into every event the request causes.', schema: correlationId },
  'X-Consistency-Token': {
    description:
      'The consistencyToken of a command answer: the query waits until the read model applied it (503 with Retry-After past the bound).',
    schema: z
      .string()
      .min(1)
      .max(8192)
      .regex(/^[\w-]+$/),
  },
  'X-Tenant-Id': {
    description: 'The tenant of an open sign-up (ignored with a token: the tenant is the token’s).',
    schema: tenantId,
  },
  'Last-Event-ID': {
    description: 'The id of the last message received: the stream resumes after it (sent by EventSource on a reconnect).',
    schema: lastEventId,
  },
};

/** A zod schema as a JSON Schema 2020-12 object embedded in the document (no `$schema` of its own). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const ACCESS: Record<Access, { security: Array<Record<string, string[]>>; note: string }> = {
  public: { security: [], note: 'No token needed.' },
  signup: { security: [{}, { bearer: [] }], note: 'Open sign-up without a token (tenant from X-Tenant-Id), or a tenant admin’s token.' },
  user: { security: [{ bearer: [] }], note: 'Bearer token: a user reaches their own resources, a tenant admin the whole tenant.' },
  tenant_admin: { security: [{ bearer: [] }], note: 'Bearer token of a tenant admin (403 for a user).' },
  operator: { security: [{ operator: [] }], note: 'The operator token (OPS_TOKEN_FILE; npm run token -- --ops), 401 without it.' },
};

/** The OpenAPI path of a Koa path: `/devices/:id` → `/devices/{id}`. */
export const openApiPath = (koaPath: string) => koaPath.replace(/:(\w+)/g, '{$1}');

export function openApiDocument(operations: readonly Operation[], info: { title: string; version: string; description?: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters: unknown[] = [];
    for (const m of op.path.matchAll(/:(\w+)/g)) {
      parameters.push({ name: m[1], in: 'path', required: true, schema: jsonSchema(id, 'input') });
    }
    for (const [name, schema] of Object.entries(op.query?.shape ?? {})) {
      const s = schema as z.ZodType;
      parameters.push({ name, in: 'query', required: !s.safeParse(undefined).success, schema: jsonSchema(s, 'input') });
    }
    for (const h of op.headers ?? []) parameters.push({ $ref: `#/components/parameters/${h}` });

    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      const { contentType, schema } = 'contentType' in r ? r : { contentType: 'application/json', schema: r };
      responses[status] = { description: `${status}`, content: { [contentType]: { schema: jsonSchema(schema, 'output') } } };
    }
    for (const status of op.problems) {
      responses[status] = {
        description: `problem ${status}`,
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
        ...(status === 503 ? { headers: { 'Retry-After': { schema: { type: 'integer' } } } } : {}),
      };
    }
    const path = openApiPath(op.path);
    paths[path] = {
      ...paths[path],
      [op.method]: {
        summary: op.summary,
        description: ACCESS[op.access].note,
        operationId: `${op.method}${path.replace(/[/.-](\w)/g, (_m, c: string) => c.toUpperCase()).replace(/\W/g, '')}`,
        tags: [op.tag],
        security: ACCESS[op.access].security,
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(op.body
          ? {
              requestBody: {
                required: !op.body.safeParse({}).success,
                content: { 'application/json': { schema: jsonSchema(op.body, 'input') } },
              },
            }
          : {}),
        responses,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info,
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      securitySchemes: {
        operator: {
          type: 'http',
          scheme: 'bearer',
          description:
            'The operator token of the operations endpoints: a secret read from OPS_TOKEN_FILE (made into .stack/auth/ops-token in development).',
        },
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description:
            'A JWT of the identity provider (AUTH_ISSUER; ES256 or RS256 by a key of its JWKS) for the audience AUTH_AUDIENCE, with iat and exp at most AUTH_MAX_TOKEN_LIFETIME_S apart; claims userId, tenantId, role = user | tenant_admin. In development, npm run token signs one with the platform’s development key.',
        },
      },
      parameters: Object.fromEntries(
        Object.entries(HEADERS).map(([name, h]) => [
          name,
          { name, in: 'header', description: h.description, schema: jsonSchema(h.schema, 'input') },
        ]),
      ),
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
  };
}

export type OpenApiDocument = ReturnType<typeof openApiDocument>;
