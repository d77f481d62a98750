import { assertConvergence, testDatabase } from '../../test/projection-harness';
import { billingProjection } from './projection';

const db = testDatabase('billing');
beforeAll(() => db.setup());
afterAll(() => db.teardown());

describe('billing projection on PostgreSQL', () => {
  test('convergence: any cross-topic interleaving, in any batch sizes, gives the read model of the pure fold', () =>
    assertConvergence(billingProjection, db));
});
