import type { Row } from '../../lib/projection';
import { defineProjection } from '../../services/events';

export interface NotificationRow extends Row {
  notification_id: string;
  tenant_id: string | null;
  user_id: string;
  title: string;
  content: string;
  cause: string;
  cause_event_id: string | null;
  read: boolean;
  sent_at: Date;
  read_at: Date | null;
  version: number;
}

/** Per-user notifications with title, content, cause and read state. Reads the notification topic. */
export const notificationProjection = defineProjection({
  name: 'notification',
  tables: { notifications: { key: 'notification_id', push: 'notification' } },
  on: {
    notification: {
      'notification.sent': {
        needs: (e) => [['notifications', e.aggregateId]],
        apply: (view, e) =>
          view.put('notifications', {
            notification_id: e.aggregateId,
            tenant_id: e.tenantId,
            user_id: e.userId,
            title: e.title,
            content: e.content,
            cause: e.cause,
            cause_event_id: e.causationId,
            read: false,
            sent_at: new Date(e.occurredAt),
            read_at: null,
            version: e.aggregateVersion,
          } satisfies NotificationRow),
      },
      'notification.read': {
        needs: (e) => [['notifications', e.aggregateId]],
        apply(view, e) {
          const n = view.get<NotificationRow>('notifications', e.aggregateId);
          if (!n || e.aggregateVersion <= n.version) return;
          view.put('notifications', { ...n, read: true, read_at: new Date(e.occurredAt), version: e.aggregateVersion });
        },
      },
    },
  },
});
