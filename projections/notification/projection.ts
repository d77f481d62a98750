import { assertNever } from '../../lib/decider';
import type { Projection, Row } from '../../lib/projection';
import { isNotificationEvent } from '../../services/notification/events';

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
export const notificationProjection: Projection = {
  name: 'notification',
  topics: (t) => [t.notification.events],
  tables: { notifications: { key: 'notification_id' } },
  needs: (e) => (isNotificationEvent(e) ? [['notifications', e.aggregateId]] : []),
  apply(view, event) {
    if (!isNotificationEvent(event)) return;
    const e = event;
    switch (e.type) {
      case 'notification.sent':
        return view.put('notifications', {
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
        } satisfies NotificationRow);
      case 'notification.read': {
        const n = view.get<NotificationRow>('notifications', e.aggregateId);
        if (!n || e.aggregateVersion <= n.version) return;
        return view.put('notifications', { ...n, read: true, read_at: new Date(e.occurredAt), version: e.aggregateVersion });
      }
      default:
        return assertNever(e);
    }
  },
};
