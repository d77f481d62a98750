import type { SchemasView } from '../../views';
import { table } from '../dom';
import { getJson } from '../http';
import type { Tab } from './tab';

/** The registry's subjects of the namespace and their versions. */
export const schemasTab: Tab = {
  id: 'schemas',
  title: 'Schemas',
  async render(root) {
    const { subjects } = await getJson<SchemasView>('/console/api/schemas');
    root.append(
      table(
        'schemas-table',
        [
          ['subject', (s) => s.subject],
          ['versions', (s) => s.versions.join(', ')],
          ['latest', (s) => s.versions.at(-1) ?? '—'],
        ],
        subjects,
      ),
    );
  },
};
