import { connect, type Socket } from 'node:net';
import { HTTP_LIMITS } from './http';
import { startTestPlatform, type TestPlatform } from '../test/platform';
import { waitFor } from '../test/support';

/** Slow clients (issue 13): a slowloris socket is closed by the server, and others are still served meanwhile. */
let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform(1);
});
afterAll(() => platform?.stop());

test('20 slowloris sockets (a header line a second, never done) are each answered 408 and closed; the API serves others meanwhile', async () => {
  const url = new URL(platform.sides[0]!.url);
  const sockets: Array<{ socket: Socket; closed: boolean; got: string; timer: NodeJS.Timeout }> = [];
  for (let i = 0; i < 20; i++) {
    const entry = {
      socket: connect(Number(url.port), url.hostname),
      closed: false,
      got: '',
      timer: undefined as unknown as NodeJS.Timeout,
    };
    entry.socket.on('data', (c) => (entry.got += c.toString()));
    entry.socket.on('close', () => {
      entry.closed = true;
      clearInterval(entry.timer);
    });
    entry.socket.on('error', () => undefined);
    entry.socket.write('GET /openapi.json HTTP/1.1\r\nHost: x\r\n');
    entry.timer = setInterval(() => entry.socket.writable && entry.socket.write(`X-Slow-${i}: a\r\n`), 1000);
    sockets.push(entry);
  }
  try {
    expect((await platform.http[0]!('GET', '/openapi.json')).status).toBe(200);
    await waitFor(() => (sockets.every((s) => s.closed) ? true : undefined), {
      what: 'every slowloris socket to be closed',
      timeoutMs: HTTP_LIMITS.headersTimeoutMs + 10_000,
      intervalMs: 200,
    });
    for (const s of sockets) expect(s.got).toMatch(/^HTTP\/1\.1 408 [^]*"status":408/);
  } finally {
    for (const s of sockets) {
      clearInterval(s.timer);
      s.socket.destroy();
    }
  }
});
