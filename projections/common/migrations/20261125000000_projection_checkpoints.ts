import type { Knex } from 'knex';

/** Where each projection stands in each topic partition, written in the same transaction as its rows. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('projection_checkpoints', (t) => {
    t.text('projection').notNullable();
    t.text('topic').notNullable();
    t.integer('partition').notNullable();
    t.bigInteger('next_offset').notNullable();
    t.bigInteger('applied_events').notNullable().defaultTo(0);
    t.bigInteger('dead_letters').notNullable().defaultTo(0);
    t.timestamp('last_event_at', { useTz: true });
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.primary(['projection', 'topic', 'partition']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('projection_checkpoints');
}
