import type { Knex } from 'knex';

/** The device agent also knows whose each device is: an install on a device that is not its user's fails. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_devices', (t) => {
    t.text('user_id');
    t.text('tenant_id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_devices', (t) => {
    t.dropColumn('user_id');
    t.dropColumn('tenant_id');
  });
}
