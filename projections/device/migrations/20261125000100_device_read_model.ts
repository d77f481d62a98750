import type { Knex } from 'knex';
import { createUserCopyTable } from '../../common/user-copy';

/** The device read model: devices with their redundant user fields, their installed apps, and the users they take those fields from. */
export async function up(knex: Knex): Promise<void> {
  await createUserCopyTable(knex, 'device_users');
  await knex.schema.createTable('devices', (t) => {
    t.text('device_id').primary();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('order_id');
    t.text('name').notNullable();
    t.jsonb('spec').notNullable();
    t.text('tier').notNullable();
    t.text('region').notNullable();
    t.text('status').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.integer('version').notNullable();
    t.text('username');
    t.text('email');
    t.text('phone');
    t.text('user_status');
    t.index(['user_id']);
    t.index(['tenant_id', 'status', 'device_id']);
    t.index(['tenant_id', 'user_id', 'device_id']);
  });
  await knex.schema.createTable('device_apps', (t) => {
    t.text('install_id').primary();
    t.text('device_id').notNullable();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('app_id').notNullable();
    t.text('app_version');
    t.text('status').notNullable();
    t.timestamp('requested_at', { useTz: true }).notNullable();
    t.timestamp('installed_at', { useTz: true });
    t.timestamp('failed_at', { useTz: true });
    t.text('failure_reason');
    t.integer('version').notNullable();
    t.index(['device_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('device_apps');
  await knex.schema.dropTable('devices');
  await knex.schema.dropTable('device_users');
}
