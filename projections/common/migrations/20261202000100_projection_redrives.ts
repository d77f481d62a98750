import type { Knex } from 'knex';

/**
 * What re-driving each dead letter of a projection came to (projections/redrive.ts): one row per dead letter (its
 * partition and offset in the dead-letter topic), with the event's own position. `applied` is final: neither that
 * dead letter nor another one of the same event (the dead-letter topic is at least once) is applied again; `failed`
 * is tried again by the next re-drive. The projections' own roles write it, as they write their checkpoint rows
 * (lib/projection-worker.ts grantProjection).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('projection_redrives', (t) => {
    t.text('projection').notNullable();
    t.integer('dead_letter_partition').notNullable();
    t.bigInteger('dead_letter_offset').notNullable();
    // A dead letter without its source headers (written by something else than a projection worker) has none.
    t.text('source_topic');
    t.integer('source_partition');
    t.bigInteger('source_offset');
    t.text('event_type');
    t.text('aggregate_id');
    t.text('outcome').notNullable().checkIn(['applied', 'failed']);
    t.text('error');
    t.integer('attempts').notNullable().defaultTo(1);
    t.timestamp('redriven_at', { useTz: true }).notNullable();
    t.primary(['projection', 'dead_letter_partition', 'dead_letter_offset']);
  });
  await knex.raw(
    `create unique index projection_redrives_applied_once on projection_redrives
       (projection, source_topic, source_partition, source_offset) where outcome = 'applied'`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('projection_redrives');
}
