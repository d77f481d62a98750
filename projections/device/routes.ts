import Router from '@koa/router';
import { z } from 'zod';
import { authenticate } from '../../lib/auth';
import { notFound } from '../../lib/decider';
import { pathId } from '../../lib/http';
import { actorOf, listPage, pageParams, queryParams, readAfter, scoped } from '../../lib/query';
import { deviceList, userList } from './queries';
import type { QueryDeps } from '../query-deps';
import { deviceProjection, type DeviceAppRow, type DeviceRow } from './projection';
import type { UserCopyRow } from '../common/user-copy';

const device = (d: DeviceRow) => ({
  id: d.device_id,
  tenantId: d.tenant_id,
  userId: d.user_id,
  orderId: d.order_id,
  name: d.name,
  spec: d.spec,
  tier: d.tier,
  region: d.region,
  status: d.status,
  user: { username: d.username, email: d.email, phone: d.phone, status: d.user_status },
  createdAt: d.created_at,
  updatedAt: d.updated_at,
  version: d.version,
});
const app = (a: DeviceAppRow) => ({
  installId: a.install_id,
  appId: a.app_id,
  appVersion: a.app_version,
  status: a.status,
  requestedAt: a.requested_at,
  installedAt: a.installed_at,
  failedAt: a.failed_at,
  failureReason: a.failure_reason,
});
const user = (u: UserCopyRow) => ({
  id: u.user_id,
  tenantId: u.tenant_id,
  username: u.username,
  email: u.email,
  phone: u.phone,
  status: u.status,
  version: u.version,
});

/** Query API of the device read model: devices (with user fields and apps) and users. */
export function deviceQueryRoutes(deps: QueryDeps): Router {
  const router = new Router();
  const auth = authenticate(deps.jwtSecret);
  const projection = { name: deviceProjection.name, topics: deviceProjection.topics(deps.topics) };

  router.get('/devices', auth, async (ctx) => {
    const q = queryParams(ctx, {
      ...pageParams,
      userId: z.string().min(1).max(128).optional(),
      status: z.enum(['created', 'running', 'stopped', 'deleted']).optional(),
    });
    await readAfter(ctx, deps.db, projection, deps.consistencyTimeoutMs);
    const result = await listPage<typeof q, DeviceRow>(deviceList, deps.db, actorOf(ctx), q, q);
    ctx.body = { items: result.items.map(device), next: result.next };
  });

  router.get('/devices/:id', auth, async (ctx) => {
    const id = pathId(ctx);
    await readAfter(ctx, deps.db, projection, deps.consistencyTimeoutMs);
    const row = (await scoped(deps.db('devices'), actorOf(ctx), 'devices').where('device_id', id).first()) as DeviceRow | undefined;
    if (!row) throw notFound('device not found');
    const apps = (await deps.db('device_apps').where('device_id', id).orderBy('requested_at')) as DeviceAppRow[];
    ctx.body = { ...device(row), apps: apps.map(app) };
  });

  router.get('/users', auth, async (ctx) => {
    const q = queryParams(ctx, { ...pageParams, status: z.enum(['active', 'suspended', 'banned', 'deleted']).optional() });
    await readAfter(ctx, deps.db, projection, deps.consistencyTimeoutMs);
    const result = await listPage<typeof q, UserCopyRow>(userList, deps.db, actorOf(ctx), q, q);
    ctx.body = { items: result.items.map(user), next: result.next };
  });

  router.get('/users/:id', auth, async (ctx) => {
    const id = pathId(ctx);
    await readAfter(ctx, deps.db, projection, deps.consistencyTimeoutMs);
    const actor = actorOf(ctx);
    const row = (await deps.db('device_users').where({ user_id: id, tenant_id: actor.tenantId }).where('version', '>', 0).first()) as
      UserCopyRow | undefined;
    if (!row || (actor.role !== 'tenant_admin' && row.user_id !== actor.userId)) throw notFound('user not found');
    ctx.body = user(row);
  });

  return router;
}
