import { AGGREGATE_NAMES } from '../../../../lib/topics';
import type { HistoryView } from '../../views';
import { el, replace, table, time } from '../dom';
import { getJson } from '../http';
import type { Tab } from './tab';

/** An aggregate's history: pick the aggregate, paste its id, read every event decoded. */
export const aggregateTab: Tab = {
  id: 'aggregate',
  title: 'Aggregate',
  async render(root) {
    const select = el(
      'select',
      { name: 'aggregate', testid: 'aggregate-select' },
      ...AGGREGATE_NAMES.map((a) => el('option', { value: a }, a)),
    );
    const input = el('input', { name: 'id', placeholder: 'aggregate id', testid: 'aggregate-id', required: true, autocomplete: 'off' });
    const result = el('div', { testid: 'aggregate-result' });
    const form = el('form', { class: 'inline' }, select, input, el('button', { type: 'submit' }, 'Show events'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void show(select.value, input.value.trim());
    });
    const show = async (aggregate: string, id: string) => {
      replace(result, el('p', { class: 'note' }, `Reading ${aggregate} ${id}…`));
      try {
        const h = await getJson<HistoryView>(`/console/api/aggregates/${encodeURIComponent(aggregate)}/${encodeURIComponent(id)}`);
        replace(
          result,
          el('p', { class: 'note' }, `${h.total} event(s) of ${h.aggregate} ${h.id} in ${h.topic} partition ${h.partition}`),
          table(
            'events-table',
            [
              ['version', (e) => e.version],
              ['type', (e) => e.type],
              ['offset', (e) => `${e.partition}@${e.offset}`],
              ['occurred', (e) => time(e.occurredAt)],
              ['appended', (e) => time(e.timestamp)],
              ['schema id', (e) => e.schemaId],
              ['correlation', (e) => e.correlationId],
              ['causation', (e) => e.causationId],
              ['command', (e) => e.commandId],
              ['payload', (e) => (e.error ? el('span', { class: 'error' }, e.error) : el('code', {}, JSON.stringify(e.payload)))],
            ],
            h.events,
          ),
        );
      } catch (err) {
        replace(result, el('p', { class: 'error', testid: 'aggregate-error' }, (err as Error).message));
      }
    };
    root.append(form, result);
  },
};
