import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** A message of GET /stream as a client received it. */
export interface Pushed {
  readonly id: string;
  readonly event: string;
  readonly data: Record<string, unknown>;
  /** When it arrived (Date.now()). */
  readonly at: number;
}

/**
 * A Server-Sent Events client for the tests: it connects with the given headers (a bearer token, Last-Event-ID),
 * keeps every message it receives, and can be cut off at any moment (`close`), as a dropped connection would be.
 */
export async function openStream(url: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const messages: Pushed[] = [];
  let ended = false;
  const parser = createParser({
    onEvent: (m: EventSourceMessage) =>
      messages.push({ id: m.id ?? '', event: m.event ?? 'message', data: JSON.parse(m.data) as Pushed['data'], at: Date.now() }),
  });
  const reading = (async () => {
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Uint8Array, { stream: true }));
    } catch {
      /* cut off by close() */
    } finally {
      ended = true;
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    /** The body of an answer that is not a stream (a problem). */
    problem: async () => (await res.json()) as Record<string, unknown>,
    messages,
    /** The id of the last message received (where a resume starts). */
    lastId: () => [...messages].reverse().find((m) => m.id)?.id,
    ended: () => ended,
    async close(): Promise<void> {
      abort.abort();
      await reading;
    },
  };
}

export type Stream = Awaited<ReturnType<typeof openStream>>;
