import type { Knex } from 'knex';
import { assertNever } from '../../lib/decider';
import type { ProjectionView, Row, TableSpec } from '../../lib/projection';
import type { UserEvent } from '../../services/user/events';

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

/** Folds a user event into the copy, then copies the user's fields onto every row of the dependent tables. */
export function applyUserCopy(
  view: ProjectionView,
  table: string,
  e: UserEvent,
  dependents: ReadonlyArray<{ table: string; fields: ReadonlyArray<keyof ReturnType<typeof userFields>> }>,
): void {
  const current = view.get<UserCopyRow>(table, e.aggregateId);
  if (current && e.aggregateVersion <= current.version) return;
  const base = current ?? placeholder(e.aggregateId);
  let next: UserCopyRow;
  switch (e.type) {
    case 'user.created':
      next = { ...base, tenant_id: e.tenantId, username: e.username, email: e.email, phone: e.phone, status: e.status };
      break;
    case 'user.updated':
      next = { ...base, username: e.username ?? base.username, email: e.email ?? base.email, phone: e.phone ?? base.phone };
      break;
    case 'user.status.changed':
      next = { ...base, status: e.status };
      break;
    case 'user.deleted':
      next = { ...base, status: 'deleted' };
      break;
    default:
      return assertNever(e);
  }
  next = { ...next, version: e.aggregateVersion };
  view.put(table, next);
  const fields = userFields(next);
  for (const d of dependents) view.cascade(d.table, e.aggregateId, Object.fromEntries(d.fields.map((f) => [f, fields[f]])));
}
