import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** A production start without an identity provider exits non-zero naming the variable (issue 13). */
test('an API process with NODE_ENV=production and no AUTH_ISSUER exits 1 naming AUTH_ISSUER', () => {
  const root = path.resolve(__dirname, '..');
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: 'production' };
  delete env.AUTH_ISSUER;
  delete env.AUTH_JWKS_URL;
  const res = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'faults', 'api-process.ts'), 'prod-check'], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(res.status).toBe(1);
  expect(res.stderr).toContain('AUTH_ISSUER: required with NODE_ENV=production');
});
