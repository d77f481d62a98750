import type { Knex } from 'knex';

/** The purchase-plan saga's state: the orders it follows and what it knows of their users. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('purchase_users', (t) => {
    t.text('user_id').primary();
    t.text('status');
    t.integer('active_devices').notNullable();
    t.integer('version').notNullable();
  });
  await knex.schema.createTable('purchase_orders', (t) => {
    t.text('order_id').primary();
    t.text('user_id').notNullable();
    t.text('tenant_id');
    t.text('plan_name').notNullable();
    t.jsonb('spec').notNullable();
    t.text('tier').notNullable();
    t.text('region').notNullable();
    t.text('status').notNullable();
    t.timestamp('deadline_at', { useTz: true }).notNullable();
    t.text('device_id');
    t.text('refusal');
    t.integer('version').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('purchase_orders');
  await knex.schema.dropTable('purchase_users');
}
