import type { Knex } from 'knex';

/** Every filter and sort of the device query API has an index (checked by projections/indexes.int.spec.ts). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('devices', (t) => t.index(['tenant_id', 'device_id']));
  await knex.schema.alterTable('device_users', (t) => {
    t.index(['tenant_id', 'user_id']);
    t.index(['tenant_id', 'status', 'user_id']);
  });
  await knex.schema.alterTable('device_apps', (t) => t.index(['device_id', 'requested_at']));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('devices', (t) => t.dropIndex(['tenant_id', 'device_id']));
  await knex.schema.alterTable('device_users', (t) => {
    t.dropIndex(['tenant_id', 'user_id']);
    t.dropIndex(['tenant_id', 'status', 'user_id']);
  });
  await knex.schema.alterTable('device_apps', (t) => t.dropIndex(['device_id', 'requested_at']));
}
