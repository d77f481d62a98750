import { scoped, type ListQuery } from '../../lib/query';

/** The list of the notification query API (routes page it; projections/indexes.int.spec.ts EXPLAINs it). */
export const notificationList: ListQuery<{ userId?: string; unread?: 'true' | 'false' }> = {
  key: 'notification_id',
  build(db, actor, f) {
    const q = scoped(db('notifications'), actor, 'notifications');
    if (f.userId) q.where('user_id', f.userId);
    if (f.unread) q.where('read', f.unread === 'false');
    return q;
  },
};
