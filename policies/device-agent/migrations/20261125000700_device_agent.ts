import type { Knex } from 'knex';

/** The device agent's view of the devices: whether each exists and runs. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('agent_devices', (t) => {
    t.text('device_id').primary();
    t.text('status').notNullable();
    t.integer('version').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('agent_devices');
}
