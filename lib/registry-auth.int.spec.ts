import { loadConfig } from './config';
import { createRegistry, registryAuthOf, type RegistryPrincipal } from './registry';
import { unique } from '../test/support';

/**
 * The schema registry refuses strangers and holds each principal to its role (issue 13): reads need the reader,
 * subjects the writer, the registry-wide configuration the admin; deletion through the registry's own API is off.
 */
const cfg = loadConfig();
const ccompat = cfg.registry.url;
const origin = new URL(ccompat).origin;
const subject = unique('test-registry-auth');
const schema = { schema: JSON.stringify({ type: 'record', name: 'Probe', namespace: 'test', fields: [{ name: 'a', type: 'string' }] }) };

async function call(principal: RegistryPrincipal | 'anonymous' | 'wrong password', method: string, url: string, body?: unknown) {
  const auth =
    principal === 'wrong password'
      ? { ...registryAuthOf(cfg, 'writer')!, password: 'x'.repeat(32) }
      : principal === 'anonymous'
        ? undefined
        : registryAuthOf(cfg, principal);
  const res = await fetch(url, {
    method,
    headers: {
      'Content-Type': 'application/vnd.schemaregistry.v1+json',
      ...(auth ? { Authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

afterAll(async () => {
  await createRegistry(cfg, 'writer').deleteSubject(subject);
});

test('without credentials, or with a wrong password, nothing is read or written (401)', async () => {
  expect(await call('anonymous', 'GET', `${ccompat}/subjects`)).toBe(401);
  expect(await call('anonymous', 'POST', `${ccompat}/subjects/${subject}/versions`, schema)).toBe(401);
  expect(await call('anonymous', 'PUT', `${ccompat}/config`, { compatibility: 'NONE' })).toBe(401);
  expect(await call('wrong password', 'POST', `${ccompat}/subjects/${subject}/versions`, schema)).toBe(401);
});

test('the reader reads and may not register, configure or delete (403)', async () => {
  expect(await call('reader', 'GET', `${ccompat}/subjects`)).toBe(200);
  expect(await call('reader', 'POST', `${ccompat}/subjects/${subject}/versions`, schema)).toBe(403);
  expect(await call('reader', 'PUT', `${ccompat}/config/${subject}`, { compatibility: 'NONE' })).toBe(403);
  expect(await call('reader', 'DELETE', `${ccompat}/subjects/${subject}`)).toBe(403);
});

test('the writer registers a subject and sets its level, but not the registry-wide level (admin only)', async () => {
  expect(await call('writer', 'POST', `${ccompat}/subjects/${subject}/versions`, schema)).toBe(200);
  expect(await call('writer', 'PUT', `${ccompat}/config/${subject}`, { compatibility: 'BACKWARD' })).toBe(200);
  expect(await call('writer', 'PUT', `${ccompat}/config`, { compatibility: 'NONE' })).toBe(403);
  expect(await createRegistry(cfg, 'reader').compatibility(subject)).toBe('BACKWARD');
});

test('the global compatibility is BACKWARD, and the native API refuses deletion even to the admin (405)', async () => {
  const res = await fetch(`${ccompat}/config`, { headers: { Authorization: createRegistry(cfg, 'reader').authorization! } });
  expect(await res.json()).toEqual({ compatibilityLevel: 'BACKWARD' });
  expect(await call('admin', 'DELETE', `${origin}/apis/registry/v3/groups/default/artifacts/${subject}`)).toBe(405);
});
