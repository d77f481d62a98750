import type { Knex } from 'knex';
import { createUserCopyTable } from '../../common/user-copy';

/** The billing read model: orders and metering sessions with redundant user fields, daily usage, anomalies. */
export async function up(knex: Knex): Promise<void> {
  await createUserCopyTable(knex, 'billing_users');
  await knex.schema.createTable('orders', (t) => {
    t.text('order_id').primary();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('plan_id').notNullable();
    t.text('plan_name').notNullable();
    t.bigInteger('amount').notNullable();
    t.text('currency').notNullable();
    t.bigInteger('paid_amount').notNullable();
    t.bigInteger('refunded_amount').notNullable();
    t.text('status').notNullable();
    t.text('payment_method');
    t.text('payment_ref');
    t.text('cancel_reason');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('paid_at', { useTz: true });
    t.timestamp('cancelled_at', { useTz: true });
    t.timestamp('refunded_at', { useTz: true });
    t.integer('version').notNullable();
    t.text('username');
    t.text('email');
    t.text('user_status');
    t.index(['user_id']);
    t.index(['tenant_id', 'status', 'order_id']);
    t.index(['tenant_id', 'user_id', 'created_at']);
  });
  await knex.schema.createTable('billing_devices', (t) => {
    t.text('device_id').primary();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('tier').notNullable();
    t.text('status').notNullable();
    t.text('open_session_id');
    t.timestamp('open_session_started_at', { useTz: true });
    t.integer('open_session_rate');
    t.integer('version').notNullable();
  });
  await knex.schema.createTable('metering_sessions', (t) => {
    t.text('session_id').primary();
    t.text('device_id').notNullable();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('tier').notNullable();
    t.integer('rate_fen_per_minute').notNullable();
    t.text('status').notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('stopped_at', { useTz: true });
    t.integer('duration_seconds');
    t.integer('billed_minutes');
    t.bigInteger('cost_fen');
    t.text('close_reason');
    t.text('username');
    t.text('email');
    t.text('user_status');
    t.index(['user_id', 'started_at']);
    t.index(['device_id', 'started_at']);
    t.index(['tenant_id', 'started_at']);
  });
  await knex.schema.createTable('usage_daily', (t) => {
    t.text('usage_id').primary();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('day').notNullable();
    t.integer('sessions').notNullable();
    t.bigInteger('seconds').notNullable();
    t.bigInteger('cost_fen').notNullable();
    t.index(['user_id', 'day']);
    t.index(['tenant_id', 'day']);
  });
  await knex.schema.createTable('billing_anomalies', (t) => {
    t.text('anomaly_id').primary();
    t.text('kind').notNullable();
    t.text('device_id').notNullable();
    t.text('tenant_id');
    t.text('user_id').notNullable();
    t.text('event_type').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    t.text('detail').notNullable();
    t.index(['device_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const t of ['billing_anomalies', 'usage_daily', 'metering_sessions', 'billing_devices', 'orders', 'billing_users'])
    await knex.schema.dropTable(t);
}
