import type { ProjectionsView } from '../../views';
import { duration, el, replace, table, time } from '../dom';
import { getJson } from '../http';
import type { Tab } from './tab';

const REFRESH_MS = 2000;

/** The projections, refreshed every two seconds while the tab is open (no reload). */
export const projectionsTab: Tab = {
  id: 'projections',
  title: 'Projections',
  async render(root) {
    const stamp = el('p', { class: 'note', testid: 'projections-updated' });
    const body = el('div');
    root.append(stamp, body);
    let stopped = false;
    let timer: number | undefined;
    const refresh = async () => {
      try {
        const view = await getJson<ProjectionsView>('/console/api/projections');
        if (stopped) return;
        replace(stamp, `Updated ${time(view.now)} — refreshes every ${REFRESH_MS / 1000} s`);
        replace(
          body,
          table(
            'projections-table',
            [
              ['projection', (p) => p.projection],
              ['lag (events)', (p) => el('span', { testid: `lag-${p.projection}` }, p.lag)],
              ['lag (time)', (p) => duration(p.lagSeconds)],
              ['applied events', (p) => el('span', { testid: `applied-${p.projection}` }, p.appliedEvents)],
              ['dead letters', (p) => p.deadLetters],
              ['last event', (p) => time(p.lastEventAt)],
            ],
            view.projections,
          ),
          ...view.projections.map((p) =>
            el(
              'details',
              {},
              el('summary', {}, `${p.projection}: per partition`),
              table(
                `partitions-${p.projection}`,
                [
                  ['topic', (x) => x.topic],
                  ['partition', (x) => x.partition],
                  ['checkpoint', (x) => x.checkpoint],
                  ['end', (x) => x.endOffset],
                  ['lag', (x) => x.lag],
                  ['lag (time)', (x) => duration(x.lagSeconds)],
                  ['last event', (x) => time(x.lastEventAt)],
                ],
                p.partitions,
              ),
            ),
          ),
        );
      } catch (err) {
        if (!stopped) replace(stamp, `Refresh failed: ${(err as Error).message}`);
      }
      if (!stopped) timer = window.setTimeout(refresh, REFRESH_MS);
    };
    await refresh();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  },
};
