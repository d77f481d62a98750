import Router from '@koa/router';
import { z } from 'zod';
import { notFound } from '../../lib/errors';
import { pathId } from '../../lib/http';
import { pushView } from '../../lib/change-feed';
import { queryOperation, type Operation } from '../../lib/openapi';
import { actorOf, iso, isoOrNull, listHandler, pageOf, pageParams, readAfter, scoped, timestamp } from '../../lib/query';
import { deviceSpec, id } from '../../lib/validation';
import { deviceList, userList } from './queries';
import { queryAuth } from '../query-auth';
import type { QueryDeps } from '../query-deps';
import { deviceProjection, type DeviceAppRow, type DeviceRow } from './projection';
import type { UserCopyRow } from '../common/user-copy';

const userFieldsView = z.object({
  username: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  status: z.string().nullable(),
});
const deviceView = z.object({
  id: z.string(),
  tenantId: z.string().nullable(),
  userId: z.string(),
  orderId: z.string().nullable(),
  name: z.string(),
  spec: deviceSpec,
  tier: z.string(),
  region: z.string(),
  status: z.enum(['created', 'running', 'stopped', 'deleted']),
  user: userFieldsView,
  createdAt: timestamp,
  updatedAt: timestamp,
  version: z.number().int(),
});
const appView = z.object({
  installId: z.string(),
  appId: z.string(),
  appVersion: z.string().nullable(),
  status: z.enum(['requested', 'installed', 'failed']),
  requestedAt: timestamp,
  installedAt: timestamp.nullable(),
  failedAt: timestamp.nullable(),
  failureReason: z.string().nullable(),
});
const userView = z.object({
  id: z.string(),
  tenantId: z.string().nullable(),
  username: z.string().nullable(),
  email: z.string().nullable(),
  phone: z.string().nullable(),
  status: z.string().nullable(),
  version: z.number().int(),
});
const deviceQuery = z.strictObject({
  ...pageParams,
  userId: id.optional(),
  status: z.enum(['created', 'running', 'stopped', 'deleted']).optional(),
});
const userQuery = z.strictObject({ ...pageParams, status: z.enum(['active', 'suspended', 'banned', 'deleted']).optional() });

/** The operations of this router, for the OpenAPI document (lib/openapi.ts). */
const tag = 'devices and users (queries)';
export const deviceQueryOperations: Operation[] = [
  queryOperation({
    path: '/devices',
    summary: 'List devices with their user’s fields',
    tag,
    query: deviceQuery,
    response: pageOf(deviceView),
  }),
  queryOperation({ path: '/devices/:id', summary: 'A device with its apps', tag, response: deviceView.extend({ apps: z.array(appView) }) }),
  queryOperation({ path: '/users', summary: 'List users', tag, query: userQuery, response: pageOf(userView) }),
  queryOperation({ path: '/users/:id', summary: 'A user', tag, response: userView }),
];

const device = (d: DeviceRow): z.infer<typeof deviceView> => ({
  id: d.device_id,
  tenantId: d.tenant_id,
  userId: d.user_id,
  orderId: d.order_id,
  name: d.name,
  spec: d.spec as z.infer<typeof deviceSpec>,
  tier: d.tier,
  region: d.region,
  status: d.status,
  user: { username: d.username, email: d.email, phone: d.phone, status: d.user_status },
  createdAt: iso(d.created_at),
  updatedAt: iso(d.updated_at),
  version: d.version,
});
const app = (a: DeviceAppRow): z.infer<typeof appView> => ({
  installId: a.install_id,
  appId: a.app_id,
  appVersion: a.app_version,
  status: a.status,
  requestedAt: iso(a.requested_at),
  installedAt: isoOrNull(a.installed_at),
  failedAt: isoOrNull(a.failed_at),
  failureReason: a.failure_reason,
});
const user = (u: UserCopyRow): z.infer<typeof userView> => ({
  id: u.user_id,
  tenantId: u.tenant_id,
  username: u.username,
  email: u.email,
  phone: u.phone,
  status: u.status,
  version: u.version,
});

/** How the pushed changes of this read model are shown on GET /stream: as the query API lists the rows. */
export const devicePushes = { device: pushView(device) };

/** Query API of the device read model: devices (with user fields and apps) and users. */
export function deviceQueryRoutes(deps: QueryDeps): Router {
  const router = new Router();
  const auth = queryAuth(deps);
  const projection = { name: deviceProjection.name, topics: deviceProjection.topics(deps.topics) };

  router.get(
    '/devices',
    auth,
    listHandler<typeof deviceQuery, DeviceRow>(deps, projection, { query: deviceQuery, list: deviceList, view: device }),
  );

  router.get('/devices/:id', auth, async (ctx) => {
    const id = pathId(ctx);
    await readAfter(ctx, deps, projection);
    // Both reads at once (one round trip of waiting instead of two); the apps are dropped if the device is out of scope.
    const [row, apps] = (await Promise.all([
      scoped(deps.db('devices'), actorOf(ctx), 'devices').where('device_id', id).first(),
      deps.db('device_apps').where('device_id', id).orderBy('requested_at'),
    ])) as [DeviceRow | undefined, DeviceAppRow[]];
    if (!row) throw notFound('device not found');
    // Only its user's installs: a request naming someone else's device fails (device agent) and is not shown here.
    const own = apps.filter((a) => a.user_id === row.user_id && a.tenant_id === row.tenant_id);
    ctx.body = { ...device(row), apps: own.map(app) };
  });

  router.get(
    '/users',
    auth,
    listHandler<typeof userQuery, UserCopyRow>(deps, projection, { query: userQuery, list: userList, view: user }),
  );

  router.get('/users/:id', auth, async (ctx) => {
    const id = pathId(ctx);
    await readAfter(ctx, deps, projection);
    const actor = actorOf(ctx);
    const row = (await deps.db('device_users').where({ user_id: id, tenant_id: actor.tenantId }).where('version', '>', 0).first()) as
      UserCopyRow | undefined;
    if (!row || (actor.role !== 'tenant_admin' && row.user_id !== actor.userId)) throw notFound('user not found');
    ctx.body = user(row);
  });

  return router;
}
