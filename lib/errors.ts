/**
 * Domain errors: thrown by deciders, mapped to HTTP by the error middleware.
 * 400 the input is malformed, 401 no valid token, 403 the caller's role may never do this, 404 the aggregate
 * does not exist (or is not the caller's), 409 the command conflicts with the aggregate's current state (or a
 * stale expected version), 422 the values break a business rule, 429 the caller holds too much at once.
 */
export class DomainError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503,
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }
}
export const invalid = (message: string, details?: Record<string, unknown>) => new DomainError(400, 'invalid', message, details);
export const forbidden = (message: string) => new DomainError(403, 'forbidden', message);
export const notFound = (message: string) => new DomainError(404, 'not_found', message);
export const conflict = (message: string, details?: Record<string, unknown>) => new DomainError(409, 'conflict', message, details);
export const ruleViolated = (message: string, details?: Record<string, unknown>) => new DomainError(422, 'rule_violated', message, details);

/**
 * An infrastructure failure (Kafka, the registry, PostgreSQL, the network), as kafkajs' errors are: `retriable`
 * says whether the same call can succeed later, `cause` keeps the underlying error. Never a domain answer: the
 * HTTP layer maps a retriable one to 503 with Retry-After, the workers retry it instead of dead-lettering.
 */
export class InfraError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}
