import type { TopicsView } from '../../views';
import { el, table } from '../dom';
import { getJson } from '../http';
import type { Tab } from './tab';

/** The namespace's topics: kind, partitions, offsets per partition. */
export const topicsTab: Tab = {
  id: 'topics',
  title: 'Topics',
  async render(root) {
    const { topics } = await getJson<TopicsView>('/console/api/topics');
    root.append(
      el(
        'p',
        { class: 'note' },
        'Offsets are high − low summed over partitions (transaction markers take one each). Size on disk: not available (kafkajs has no DescribeLogDirs).',
      ),
      table(
        'topics-table',
        [
          ['topic', (t) => t.name],
          ['kind', (t) => t.kind],
          ['partitions', (t) => t.partitions.length],
          ['offsets', (t) => t.offsets],
          ['end offsets', (t) => t.partitions.map((p) => `${p.partition}:${p.low}–${p.high}`).join('  ')],
        ],
        topics,
      ),
    );
  },
};
