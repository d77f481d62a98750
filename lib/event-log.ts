import avro from 'avsc';
import type { z } from 'zod';
import type { KafkaMessage, Message, Producer, RecordMetadata, Transaction } from 'kafkajs';
import { headersToStrings } from './kafka';
import { openFields, sealFields, type Vault } from './pii';
import type { Registry } from './registry';
import { isRetriable } from './retry';
import { loadEventSchemas, type EventSchema } from './schemas';
import { subjectFor } from './topics';
import { envelope, fields } from './validation';

/** The metadata every event carries (DESIGN.md §1); the event's own fields follow it. */
export interface EventEnvelope {
  readonly eventId: string;
  readonly type: string;
  readonly aggregateId: string;
  readonly aggregateVersion: number;
  readonly occurredAt: number;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly tenantId: string | null;
}

export type AnyEvent = EventEnvelope & Readonly<Record<string, unknown>>;

/** A record read back from a topic: where it sits, how it was encoded, and the event. */
export interface DecodedRecord<E extends EventEnvelope = AnyEvent> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: string;
  readonly key: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly schemaId: number;
  readonly event: E;
}

export class EventEncodingError extends Error {
  constructor(
    message: string,
    readonly paths: string[] = [],
  ) {
    super(message);
  }
}

const MAGIC_BYTE = 0;

/** The rule of each top-level field of an event (lib/validation.ts); nested records are checked as a whole. */
const RULES = new Map<string, z.ZodType>([...Object.entries(fields).filter(([k]) => !k.includes('.')), ...Object.entries(envelope)]);

/** A value as an error message shows it: at most 80 characters of its JSON. */
const preview = (value: unknown): string => {
  const json = JSON.stringify(value) ?? 'undefined';
  return json.length > 80 ? `${json.slice(0, 80)}… (${json.length} characters)` : json;
};

/** Splits the Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro body. */
export function readWireFormat(buffer: Buffer): { schemaId: number; body: Buffer } {
  if (buffer.length < 5 || buffer[0] !== MAGIC_BYTE) {
    throw new EventEncodingError('not in the Confluent wire format (no magic byte 0 and schema id)');
  }
  return { schemaId: buffer.readInt32BE(1), body: buffer.subarray(5) };
}

/**
 * Appends events to a topic encoded through the schema registry and decodes them back.
 * Schema ids are resolved once per (topic, event type) and cached; encoding never asks the registry.
 * Decoding reads each writer schema once per id and resolves it to the schema this code knows.
 */
export function createEventLog(
  registry: Registry,
  schemas: readonly EventSchema[] = loadEventSchemas(),
  opts: {
    /**
     * `checkRules: false` encodes whatever its Avro schema takes, as an older version of the platform (or a foreign
     * writer) may have written it: for tests of how the read side copes with such events, never for the platform.
     */
    checkRules?: boolean;
    /**
     * The data keys (lib/pii.ts): fields marked `"pii": true` are sealed on the way in and opened on the way out.
     * Without one, such events cannot be encoded, and decode with their fields still sealed (`enc:v1:…`).
     */
    vault?: Vault;
  } = {},
) {
  const checkRules = opts.checkRules ?? true;
  const { vault } = opts;
  const byType = new Map(schemas.map((s) => [s.type, s]));
  const byFullName = new Map(schemas.map((s) => [s.fullName, s]));
  const ids = new Map<string, Promise<number>>();
  const readers = new Map<number, Promise<{ type: avro.Type; resolver?: avro.Resolver }>>();

  const schemaOf = (type: string): EventSchema => {
    const s = byType.get(type);
    if (!s) throw new EventEncodingError(`unknown event type "${type}"`);
    return s;
  };

  /** The registry id of the event type's schema under the topic's subject (looked up once). */
  function schemaId(topic: string, type: string): Promise<number> {
    const key = `${topic}\0${type}`;
    let id = ids.get(key);
    if (!id) {
      const s = schemaOf(type);
      id = registry.idOf(subjectFor(topic, s.fullName), s.json);
      id.catch(() => ids.delete(key));
      ids.set(key, id);
    }
    return id;
  }

  /**
   * What is wrong with an event, field by field (empty: nothing): its Avro schema, then the platform's rule for
   * each field (lib/validation.ts), so that nothing the read side or PostgreSQL would refuse reaches the log.
   */
  function validate(event: AnyEvent): string[] {
    const paths: string[] = [];
    schemaOf(event.type).avroType.isValid(event, {
      errorHook: (path, value) => paths.push(`${path.join('.') || '(root)'}: ${preview(value)}`),
    });
    for (const [key, value] of checkRules ? Object.entries(event) : []) {
      const rule = RULES.get(key);
      if (value === null || value === undefined || !rule) continue;
      const result = rule.safeParse(value);
      if (!result.success) paths.push(`${key}: ${result.error?.issues[0]?.message ?? 'invalid'} (${preview(value)})`);
    }
    return paths;
  }

  /** The event as the log holds it: its personal-data fields sealed under its subject's key. */
  async function sealed(s: EventSchema, event: AnyEvent): Promise<AnyEvent> {
    if (!s.pii) return event;
    if (!vault) throw new Error(`event ${event.type} has personal data to seal and this event log has no vault`);
    return sealFields(vault, event[s.pii.subject] as string, event, s.pii.fields);
  }

  /** The event with its sealed fields opened (ERASED where the key is gone); a decoded user.erased evicts the key. */
  async function opened(type: avro.Type, event: AnyEvent): Promise<AnyEvent> {
    const s = type.name ? byFullName.get(type.name) : undefined;
    if (!vault || !s?.pii) return event;
    const subject = event[s.pii.subject];
    const out = await openFields(vault, typeof subject === 'string' ? subject : null, event, s.pii.fields);
    if (event.type === 'user.erased') vault.forget(event.aggregateId);
    return out;
  }

  async function encode(topic: string, event: AnyEvent): Promise<Buffer> {
    const paths = validate(event);
    if (paths.length > 0) {
      throw new EventEncodingError(`event ${event.type} does not match its schema at ${paths.join(', ')}`, paths);
    }
    const s = schemaOf(event.type);
    const header = Buffer.alloc(5);
    header.writeUInt8(MAGIC_BYTE, 0);
    header.writeInt32BE(await schemaId(topic, event.type), 1);
    return Buffer.concat([header, s.avroType.toBuffer(await sealed(s, event))]);
  }

  async function toMessage(topic: string, event: AnyEvent, extraHeaders: Record<string, string> = {}): Promise<Message> {
    return {
      key: event.aggregateId,
      value: await encode(topic, event),
      headers: { 'event-type': event.type, 'event-id': event.eventId, 'correlation-id': event.correlationId, ...extraHeaders },
    };
  }

  function reader(schemaId: number) {
    let r = readers.get(schemaId);
    if (!r) {
      r = registry.schemaOf(schemaId).then((writer) => {
        const writerType = writer as unknown as avro.Type;
        const known = writerType.name ? byFullName.get(writerType.name) : undefined;
        if (!known) return { type: writerType };
        return { type: known.avroType, resolver: known.avroType.createResolver(writerType) };
      });
      r.catch(() => readers.delete(schemaId));
      readers.set(schemaId, r);
    }
    return r;
  }

  async function decode(value: Buffer): Promise<{ schemaId: number; event: AnyEvent }> {
    const { schemaId: id, body } = readWireFormat(value);
    const { type, resolver } = await reader(id);
    return { schemaId: id, event: await opened(type, type.fromBuffer(body, resolver) as AnyEvent) };
  }

  return {
    schemaId,
    validate,
    encode,
    /** The Kafka message `append` sends for an event (key, encoded value, headers): for callers that batch sends themselves. */
    toMessage,
    /** Resolves the schema ids of these event types for a topic up front, so the first append is as fast as any. */
    prepare: async (topic: string, types: readonly string[]) => {
      await Promise.all(types.map((t) => schemaId(topic, t)));
    },
    /** Appends the events in order, each keyed by its aggregate id. Resolves once Kafka acknowledged them (acks=all). */
    append: async (
      sender: Producer | Transaction,
      topic: string,
      events: readonly AnyEvent[],
      headers: (index: number) => Record<string, string> = () => ({}),
    ): Promise<RecordMetadata[]> => {
      const messages = await Promise.all(events.map((e, i) => toMessage(topic, e, headers(i))));
      return sender.send({ topic, acks: -1, messages });
    },
    decode,
    /** Decodes a consumed Kafka message into a DecodedRecord. */
    decodeMessage: async (topic: string, partition: number, message: KafkaMessage): Promise<DecodedRecord> => {
      if (!message.value) throw new EventEncodingError('message has no value');
      const { schemaId, event } = await decode(message.value);
      return {
        topic,
        partition,
        offset: message.offset,
        timestamp: message.timestamp,
        key: message.key?.toString() ?? null,
        headers: headersToStrings(message.headers),
        schemaId,
        event,
      };
    },
  };
}

export type EventLog = ReturnType<typeof createEventLog>;

/** A consumed message decoded: its event, or the error that makes it poison. */
export type DecodedMessage = { message: KafkaMessage; event: AnyEvent } | { message: KafkaMessage; error: Error };

/**
 * A batch of one partition decoded together (the data keys of its sealed fields are read in one query: lib/pii.ts).
 * A record that cannot be decoded is poison, kept with its error; but when the registry or the key store cannot be
 * asked (down, restarting: a retriable error) the record is fine, and the whole batch rejects so that it is tried
 * again rather than a good event dropped.
 */
export function decodeBatch(eventLog: EventLog, topic: string, partition: number, messages: KafkaMessage[]): Promise<DecodedMessage[]> {
  return Promise.all(
    messages.map(async (message): Promise<DecodedMessage> => {
      try {
        return { message, event: (await eventLog.decodeMessage(topic, partition, message)).event };
      } catch (err) {
        if (isRetriable(err)) throw err;
        return { message, error: err as Error };
      }
    }),
  );
}
