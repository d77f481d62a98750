import type { Knex } from 'knex';
import { ACTIONS, createActionsTable } from '../../../lib/saga';

/** The outbox of every saga and policy: commands to send, when, and what came of them. */
export async function up(knex: Knex): Promise<void> {
  await createActionsTable(knex);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable(ACTIONS);
}
