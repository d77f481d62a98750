import type { Knex } from 'knex';

/** The user-lifecycle policy's state: each device's owner and power state, and each user's status. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('lifecycle_users', (t) => {
    t.text('user_id').primary();
    t.text('status');
    t.integer('version').notNullable();
  });
  await knex.schema.createTable('lifecycle_devices', (t) => {
    t.text('device_id').primary();
    t.text('user_id').notNullable();
    t.text('status').notNullable();
    t.integer('version').notNullable();
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('lifecycle_devices');
  await knex.schema.dropTable('lifecycle_users');
}
