import type { DeadLettersView, RedriveView } from '../../views';
import { el, table, time } from '../dom';
import { ApiError, getJson, postJson } from '../http';
import type { Tab } from './tab';

/** The newest dead letters of both sides, with their error and where they came from. */
export const deadLettersTab: Tab = {
  id: 'dead-letters',
  title: 'Dead letters',
  async render(root) {
    const { deadLetters } = await getJson<DeadLettersView>('/console/api/dead-letters?limit=100');
    const projections = [...new Set(deadLetters.flatMap((d) => (d.projection ? [d.projection] : [])))].sort();
    const redrive = el('div', { class: 'inline', testid: 'redrive' });
    for (const p of projections) redrive.append(redriveButton(p));
    root.append(
      redrive,
      deadLetters.length === 0
        ? el('p', { class: 'note', testid: 'no-dead-letters' }, 'No dead letters.')
        : table(
            'dead-letters-table',
            [
              ['side', (d) => d.side],
              ['when', (d) => time(d.timestamp)],
              ['projection', (d) => d.projection],
              ['type', (d) => d.type],
              ['key', (d) => d.key],
              ['error', (d) => el('span', { class: 'error' }, d.errorCode ? `${d.errorCode}: ${d.error}` : d.error)],
              ['source', (d) => (d.source.topic ? `${d.source.topic}[${d.source.partition ?? '?'}]@${d.source.offset ?? '?'}` : '—')],
              ['at', (d) => `${d.topic}[${d.partition}]@${d.offset}`],
              ['value', (d) => el('code', {}, d.value)],
            ],
            deadLetters,
          ),
    );
  },
};

/** Re-drive: POST /console/api/redrive/:projection (projections/redrive.ts), its outcome counts shown beside the button. */
function redriveButton(projection: string): HTMLElement {
  const path = `/console/api/redrive/${encodeURIComponent(projection)}`;
  const button = el('button', { type: 'button', testid: `redrive-${projection}`, title: `POST ${path}` }, `Re-drive ${projection}`);
  const status = el('span', { class: 'note', testid: `redrive-${projection}-result` });
  button.addEventListener('click', async () => {
    button.setAttribute('disabled', '');
    status.textContent = 're-driving…';
    try {
      const report = await postJson<RedriveView>(path);
      const counts = Object.entries(report.counts)
        .filter(([, n]) => n > 0)
        .map(([outcome, n]) => `${outcome} ${n}`);
      status.textContent = `re-driven: ${counts.join(', ') || 'nothing to re-drive'}`;
    } catch (err) {
      status.textContent = err instanceof ApiError ? `re-drive failed (${err.status}): ${err.message}` : String(err);
    } finally {
      button.removeAttribute('disabled');
    }
  });
  return el('span', {}, button, status);
}
