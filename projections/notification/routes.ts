import Router from '@koa/router';
import { z } from 'zod';
import { pushView } from '../../lib/change-feed';
import { queryOperation, type Operation } from '../../lib/openapi';
import { iso, isoOrNull, listHandler, pageOf, pageParams, timestamp } from '../../lib/query';
import { id } from '../../lib/validation';
import { notificationList } from './queries';
import { queryAuth } from '../query-auth';
import type { QueryDeps } from '../query-deps';
import { notificationProjection, type NotificationRow } from './projection';

const notificationView = z.object({
  id: z.string(),
  userId: z.string(),
  title: z.string(),
  content: z.string(),
  cause: z.string(),
  causeEventId: z.string().nullable(),
  read: z.boolean(),
  sentAt: timestamp,
  readAt: timestamp.nullable(),
});
const notificationQuery = z.strictObject({
  ...pageParams,
  userId: id.optional(),
  unread: z.enum(['true', 'false']).optional(),
});

/** The operations of this router, for the OpenAPI document (lib/openapi.ts). */
export const notificationQueryOperations: Operation[] = [
  queryOperation({
    path: '/notifications',
    summary: 'List notifications (unread=true: the unread ones)',
    tag: 'notifications (queries)',
    query: notificationQuery,
    response: pageOf(notificationView),
  }),
];

const notification = (n: NotificationRow): z.infer<typeof notificationView> => ({
  id: n.notification_id,
  userId: n.user_id,
  title: n.title,
  content: n.content,
  cause: n.cause,
  causeEventId: n.cause_event_id,
  read: n.read,
  sentAt: iso(n.sent_at),
  readAt: isoOrNull(n.read_at),
});

/** How the pushed changes of this read model are shown on GET /stream: as the query API shows the rows. */
export const notificationPushes = { notification: pushView(notification) };

/** Query API of the notification read model. */
export function notificationQueryRoutes(deps: QueryDeps): Router {
  const router = new Router();
  const projection = { name: notificationProjection.name, topics: notificationProjection.topics(deps.topics) };
  router.get(
    '/notifications',
    queryAuth(deps),
    listHandler<typeof notificationQuery, NotificationRow>(deps, projection, {
      query: notificationQuery,
      list: notificationList,
      view: notification,
    }),
  );
  return router;
}
