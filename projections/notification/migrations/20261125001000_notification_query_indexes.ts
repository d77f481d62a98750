import type { Knex } from 'knex';

/** Every filter and sort of the notification query API has an index (checked by projections/indexes.int.spec.ts). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('notifications', (t) => {
    t.index(['tenant_id', 'notification_id']);
    t.index(['tenant_id', 'user_id', 'notification_id']);
    t.index(['tenant_id', 'user_id', 'read', 'notification_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('notifications', (t) => {
    t.dropIndex(['tenant_id', 'notification_id']);
    t.dropIndex(['tenant_id', 'user_id', 'notification_id']);
    t.dropIndex(['tenant_id', 'user_id', 'read', 'notification_id']);
  });
}
