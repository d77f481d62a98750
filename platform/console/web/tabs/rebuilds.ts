import type { RebuildsView } from '../../views';
import { duration, el, table, time } from '../dom';
import { getJson } from '../http';
import type { Tab } from './tab';

/** Rebuilds in progress: found from their shadow schemas; progress against today's end offsets, so the ETA is an upper bound. */
export const rebuildsTab: Tab = {
  id: 'rebuilds',
  title: 'Rebuilds',
  async render(root) {
    const { rebuilds } = await getJson<RebuildsView>('/console/api/rebuilds');
    root.append(
      el(
        'p',
        { class: 'note' },
        'Progress is read from each rebuild’s shadow schema against the end offsets now; the ETA (time so far × offsets left ÷ offsets done) is an upper bound.',
      ),
      rebuilds.length === 0
        ? el('p', { class: 'note', testid: 'no-rebuilds' }, 'No rebuild in progress.')
        : table(
            'rebuilds-table',
            [
              ['projection', (r) => r.projection],
              ['state', (r) => r.state],
              ['progress', (r) => `${r.done}/${r.total} offsets (${r.total > 0 ? Math.floor((100 * r.done) / r.total) : 100}%)`],
              ['applied', (r) => r.appliedEvents],
              ['ETA', (r) => duration(r.etaSeconds)],
              ['started', (r) => time(r.startedAt)],
              ['last progress', (r) => time(r.updatedAt)],
              ['shadow schema', (r) => r.shadowSchema],
            ],
            rebuilds,
          ),
    );
  },
};
