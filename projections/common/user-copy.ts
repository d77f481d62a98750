import type { Knex } from 'knex';
import type { EventHandler, HandlerMap, Row, TableSpec } from '../../lib/projection';
import { ERASED, type UserEvent } from '../../services/user/events';

/**
 * A projection's own copy of the users, the source of the redundant user fields on its rows. Each read model
 * keeps one (device_users, billing_users) so it can be rebuilt on its own.
 */
export interface UserCopyRow extends Row {
  user_id: string;
  tenant_id: string | null;
  username: string | null;
  email: string | null;
  phone: string | null;
  status: string | null;
  version: number;
}

const placeholder = (userId: string): UserCopyRow => ({
  user_id: userId,
  tenant_id: null,
  username: null,
  email: null,
  phone: null,
  status: null,
  version: 0,
});

/** The table spec of a user copy: a source table, its rows created as placeholders before they are read. */
export const userCopyTable: TableSpec = { key: 'user_id', source: { placeholder } };

/** The migration of a user copy table. */
export function createUserCopyTable(knex: Knex, name: string) {
  return knex.schema.createTable(name, (t) => {
    t.text('user_id').primary();
    t.text('tenant_id');
    t.text('username');
    t.text('email');
    t.text('phone');
    t.text('status');
    t.integer('version').notNullable();
  });
}

/** The redundant user fields a row shows for its user (all null while the user is unknown). */
export const userFields = (u: UserCopyRow | undefined) => ({
  username: u?.username ?? null,
  email: u?.email ?? null,
  phone: u?.phone ?? null,
  user_status: u?.status ?? null,
});

/** What each user event changes in the copy: every user event type decides here, once for every projection. */
const USER_CHANGES: { readonly [K in UserEvent['type']]: (u: UserCopyRow, e: Extract<UserEvent, { type: K }>) => Partial<UserCopyRow> } = {
  'user.created': (_, e) => ({ tenant_id: e.tenantId, username: e.username, email: e.email, phone: e.phone, status: e.status }),
  'user.updated': (u, e) => ({ username: e.username ?? u.username, email: e.email ?? u.email, phone: e.phone ?? u.phone }),
  'user.status.changed': (_, e) => ({ status: e.status }),
  'user.deleted': () => ({ status: 'deleted' }),
  'user.erased': (u) => ({ username: ERASED, email: ERASED, phone: u.phone === null ? null : ERASED }),
};

type Dependents = ReadonlyArray<{ table: string; fields: ReadonlyArray<keyof ReturnType<typeof userFields>> }>;

/**
 * The handlers of a projection's user copy: each user event is folded into `table`, then the user's fields are
 * copied onto every row of the dependent tables (the redundant user fields).
 */
export function userCopyHandlers(table: string, dependents: Dependents): HandlerMap<UserEvent> {
  const handler = <K extends UserEvent['type']>(type: K): EventHandler<Extract<UserEvent, { type: K }>> => ({
    needs: (e) => [[table, e.aggregateId]],
    apply(view, e) {
      const current = view.get<UserCopyRow>(table, e.aggregateId);
      if (current && e.aggregateVersion <= current.version) return;
      const base = current ?? placeholder(e.aggregateId);
      const next: UserCopyRow = { ...base, ...USER_CHANGES[type](base, e), version: e.aggregateVersion };
      view.put(table, next);
      const fields = userFields(next);
      for (const d of dependents) view.cascade(d.table, e.aggregateId, Object.fromEntries(d.fields.map((f) => [f, fields[f]])));
    },
  });
  return {
    'user.created': handler('user.created'),
    'user.updated': handler('user.updated'),
    'user.status.changed': handler('user.status.changed'),
    'user.deleted': handler('user.deleted'),
    'user.erased': handler('user.erased'),
  };
}
