import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SCHEMAS_DIR } from '../lib/schemas';
import { testNamespace } from '../test/namespace';
import { integration } from '../test/support';

const it_ = integration();
const ns = testNamespace(it_, 'test-schemas-check', { partitions: 1 });
const { namespace } = ns;
let dir: string;

beforeAll(async () => {
  await ns.setup();
  dir = mkdtempSync(path.join(os.tmpdir(), 'schemas-'));
  cpSync(SCHEMAS_DIR, dir, { recursive: true });
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await ns.teardown();
  await it_.close();
});

function check(): { status: number | null; out: string } {
  const res = spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'schemas.ts'), 'check', '--dir', dir], {
    encoding: 'utf8',
    env: { ...process.env, TOPIC_NAMESPACE: namespace },
  });
  return { status: res.status, out: res.stdout + res.stderr };
}

const edit = (file: string, change: (fields: unknown[]) => unknown[]) => {
  const p = path.join(dir, file);
  const json = JSON.parse(readFileSync(p, 'utf8')) as { fields: unknown[] };
  writeFileSync(p, JSON.stringify({ ...json, fields: change(json.fields) }));
};

describe('npm run schemas:check', () => {
  test('passes on the schemas as registered, and on an added optional field with a default', () => {
    expect(check()).toMatchObject({ status: 0, out: expect.stringContaining('every schema is compatible') });
    edit('order/order.paid.avsc', (f) => [...f, { name: 'channel', type: ['null', 'string'], default: null }]);
    expect(check()).toMatchObject({ status: 0 });
  });

  test('fails, naming the file and subject, on a breaking change', () => {
    edit('device/device.started.avsc', (f) => [...f, { name: 'powerSource', type: 'string' }]);
    const { status, out } = check();
    expect(status).toBe(1);
    expect(out).toMatch(/BREAKING .*device\.started\.avsc → .*DeviceStarted \(BACKWARD\)/);
    expect(out).toContain('1 schema(s) would break their subject');
  });
});
