import { opsToken } from '../lib/auth';
import { startTestPlatform } from '../test/platform';

/**
 * The operations endpoints show every tenant's figures: only the operator token (OPS_TOKEN_FILE) reads them
 * (issue 13). A tenant admin's token, a forged or missing one is a 401 problem.
 */
let platform: Awaited<ReturnType<typeof startTestPlatform>>;
beforeAll(async () => {
  platform = await startTestPlatform(1, { readSide: true });
}, 120_000);
afterAll(() => platform?.stop());

const call = (path: string, authorization?: string) =>
  platform.http[0]!('GET', path, undefined, authorization ? { Authorization: authorization } : {});

test.each(['/metrics', '/projections/status'])('%s: 401 without the operator token, 200 with it', async (path) => {
  for (const authorization of [
    undefined,
    platform.bearer('ops', 'ops-tenant', 'tenant_admin').Authorization,
    'Bearer not-the-token',
    'Basic b3BzOm9wcw==',
  ]) {
    const r = await call(path, authorization);
    expect([authorization?.slice(0, 12), r.status, r.body]).toEqual([
      authorization?.slice(0, 12),
      401,
      expect.objectContaining({ type: expect.stringMatching(/\/operator_token_required$/) }),
    ]);
  }
  const ok = await call(path, `Bearer ${opsToken(platform.cfg.auth)}`);
  expect(ok.status).toBe(200);
});

test('the projection status answers concurrent calls over one shared admin connection', async () => {
  const answers = await Promise.all(Array.from({ length: 20 }, () => call('/projections/status', `Bearer ${opsToken(platform.cfg.auth)}`)));
  expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
  expect((answers[0]!.body as { projections: Array<{ projection: string }> }).projections.map((p) => p.projection).sort()).toEqual([
    'billing',
    'device',
    'notification',
  ]);
});
