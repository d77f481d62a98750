import { scoped, type ListQuery } from '../../lib/query';

/** The lists of the billing query API (routes page them; projections/indexes.int.spec.ts EXPLAINs them). */
export const orderList: ListQuery<{ userId?: string; status?: string }> = {
  key: 'order_id',
  build(db, actor, f) {
    const q = scoped(db('orders'), actor, 'orders');
    if (f.userId) q.where('user_id', f.userId);
    if (f.status) q.where('status', f.status);
    return q;
  },
};

export const sessionList: ListQuery<{ userId?: string; deviceId?: string; status?: string; from?: string; to?: string }> = {
  key: 'session_id',
  build(db, actor, f) {
    const q = scoped(db('metering_sessions'), actor, 'metering_sessions');
    if (f.userId) q.where('user_id', f.userId);
    if (f.deviceId) q.where('device_id', f.deviceId);
    if (f.status) q.where('status', f.status);
    if (f.from) q.where('started_at', '>=', new Date(f.from));
    if (f.to) q.where('started_at', '<', new Date(f.to));
    return q;
  },
};
