import { scoped, type ListQuery } from '../../lib/query';

/** The lists of the device query API (routes page them; projections/indexes.int.spec.ts EXPLAINs them). */
export const deviceList: ListQuery<{ userId?: string; status?: string }> = {
  key: 'device_id',
  build(db, actor, f) {
    const q = scoped(db('devices'), actor, 'devices');
    if (f.userId) q.where('user_id', f.userId);
    if (f.status) q.where('status', f.status);
    return q;
  },
};

export const userList: ListQuery<{ status?: string }> = {
  key: 'user_id',
  build(db, actor, f) {
    const q = db('device_users').where('tenant_id', actor.tenantId).where('version', '>', 0);
    if (actor.role !== 'tenant_admin') q.where('user_id', actor.userId);
    if (f.status) q.where('status', f.status);
    return q;
  },
};
