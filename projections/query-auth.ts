import type { Middleware } from 'koa';
import { actorOf, authenticate } from '../lib/auth';
import { DomainError } from '../lib/errors';
import type { QueryDeps } from './query-deps';

/**
 * The authentication of a query route: a valid token, and for a `user` an account that is not deleted — a deleted
 * user's token reads nothing (403 account_deleted). The read side knows accounts from the device read model's copy
 * of the users (`device_users`, one primary-key read), so a deletion reaches queries as soon as that projection
 * applied it; a suspended or banned user may still read.
 */
export function queryAuth(deps: QueryDeps): Middleware {
  const authn = authenticate(deps.auth);
  return (ctx, next) =>
    authn(ctx, async () => {
      const actor = actorOf(ctx);
      if (actor.role === 'user') {
        const row = (await deps.db('device_users').where({ user_id: actor.userId }).first('status', 'tenant_id')) as
          { status: string | null; tenant_id: string | null } | undefined;
        if (row?.status === 'deleted' && row.tenant_id === actor.tenantId) {
          throw new DomainError(403, 'account_deleted', 'your account is deleted');
        }
      }
      await next();
    });
}
