import type { Knex } from 'knex';

/** Every filter and sort of the billing query API has an index (checked by projections/indexes.int.spec.ts). */
const INDEXES: Record<string, string[][]> = {
  orders: [
    ['tenant_id', 'order_id'],
    ['tenant_id', 'user_id', 'order_id'],
  ],
  metering_sessions: [
    ['tenant_id', 'session_id'],
    ['tenant_id', 'user_id', 'session_id'],
    ['tenant_id', 'device_id', 'session_id'],
    ['tenant_id', 'status', 'session_id'],
  ],
  usage_daily: [['tenant_id', 'user_id', 'day']],
};

export async function up(knex: Knex): Promise<void> {
  for (const [table, indexes] of Object.entries(INDEXES))
    await knex.schema.alterTable(table, (t) => indexes.forEach((cols) => t.index(cols)));
}

export async function down(knex: Knex): Promise<void> {
  for (const [table, indexes] of Object.entries(INDEXES))
    await knex.schema.alterTable(table, (t) => indexes.forEach((cols) => t.dropIndex(cols)));
}
