import type { Knex } from 'knex';

/**
 * The changes pushed to clients (GET /stream, lib/change-feed.ts): one row per changed read-model row of a pushed
 * table, written in the same transaction as the batch that changed it, its id in commit order (the writers hold
 * one advisory lock from the id to the commit). `row` is the row as stored; `tenant_id` and `user_id` scope it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('read_model_changes', (t) => {
    // An identity column: inserting needs no right on a sequence (the projections' roles insert here).
    t.specificType('id', 'bigint generated always as identity primary key');
    t.text('kind').notNullable();
    t.text('key').notNullable();
    t.text('tenant_id');
    t.text('user_id');
    t.jsonb('row').notNullable();
    t.timestamp('changed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // A resume reads one caller's changes after an id: a user's, or a tenant admin's whole tenant.
    t.index(['tenant_id', 'user_id', 'id']);
    t.index(['tenant_id', 'id']);
    t.index(['changed_at']);
    // A user's fields copied onto their rows (a rename, an erasure) are copied onto their recorded changes.
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('read_model_changes');
}
