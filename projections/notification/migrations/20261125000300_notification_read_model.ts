import type { Knex } from 'knex';

/** Per-user notifications, read or unread. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('notifications', (t) => {
    t.text('notification_id').primary();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('title').notNullable();
    t.text('content').notNullable();
    t.text('cause').notNullable();
    t.text('cause_event_id');
    t.boolean('read').notNullable();
    t.timestamp('sent_at', { useTz: true }).notNullable();
    t.timestamp('read_at', { useTz: true });
    t.integer('version').notNullable();
    t.index(['tenant_id', 'user_id', 'sent_at']);
    t.index(['user_id', 'read']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('notifications');
}
