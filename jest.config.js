/** Test projects split by file suffix (see ../shared/STYLE.md):
 *  unit (*.unit.spec.ts): no I/O at all.
 *  integration (*.int.spec.ts) and e2e (*.e2e.spec.ts): the real local stack (Kafka, registry, PostgreSQL).
 *  restart (*.restart.spec.ts): stops and starts the stack itself, so `npm test` runs it alone, after the others.
 *  faults (*.fault.spec.ts): breaks the stack's processes under load (faults/), alone and in band, after restart.
 *  cluster (*.cluster.spec.ts): the same on a three-node Kafka cluster (faults/cluster/), which the specs bring up. */
const transform = { '^.+\\.ts$': 'ts-jest' };
const project = (displayName, suffix) => ({
  displayName,
  testEnvironment: 'node',
  transform,
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: [`<rootDir>/**/*.${suffix}.spec.ts`],
  testPathIgnorePatterns: ['/node_modules/', '/.stack/'],
});

module.exports = {
  projects: [
    project('unit', 'unit'),
    project('integration', 'int'),
    project('e2e', 'e2e'),
    project('restart', 'restart'),
    project('faults', 'fault'),
    project('cluster', 'cluster'),
  ],
  // Waits inside integration tests are bounded by waitFor(); this only stops a hung test.
  testTimeout: 180_000,
};
