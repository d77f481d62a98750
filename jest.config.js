/** Three projects split by file suffix (see ../shared/STYLE.md):
 *  unit: no I/O at all; integration and e2e: the real local stack. */
const transform = { '^.+\\.ts$': ['ts-jest', { isolatedModules: true }] };
const common = { testEnvironment: 'node', transform, moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/**/*.unit.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/**/*.int.spec.ts'],
      slowTestThreshold: 30,
    },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/**/*.e2e.spec.ts'] },
    { ...common, displayName: 'restart', testMatch: ['<rootDir>/**/*.restart.spec.ts'] },
  ],
  testPathIgnorePatterns: ['/node_modules/', '/.stack/'],
};
