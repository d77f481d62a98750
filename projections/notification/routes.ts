import Router from '@koa/router';
import { z } from 'zod';
import { authenticate } from '../../lib/auth';
import { actorOf, listPage, pageParams, queryParams, readAfter } from '../../lib/query';
import { notificationList } from './queries';
import type { QueryDeps } from '../query-deps';
import { notificationProjection, type NotificationRow } from './projection';

const notification = (n: NotificationRow) => ({
  id: n.notification_id,
  userId: n.user_id,
  title: n.title,
  content: n.content,
  cause: n.cause,
  causeEventId: n.cause_event_id,
  read: n.read,
  sentAt: n.sent_at,
  readAt: n.read_at,
});

/** Query API of the notification read model. */
export function notificationQueryRoutes(deps: QueryDeps): Router {
  const router = new Router();
  const projection = { name: notificationProjection.name, topics: notificationProjection.topics(deps.topics) };
  router.get('/notifications', authenticate(deps.jwtSecret), async (ctx) => {
    const q = queryParams(ctx, {
      ...pageParams,
      userId: z.string().min(1).max(128).optional(),
      unread: z.enum(['true', 'false']).optional(),
    });
    await readAfter(ctx, deps.db, projection, deps.consistencyTimeoutMs);
    const result = await listPage<typeof q, NotificationRow>(notificationList, deps.db, actorOf(ctx), q, q);
    ctx.body = { items: result.items.map(notification), next: result.next };
  });
  return router;
}
