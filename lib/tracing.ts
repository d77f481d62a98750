import { mkdirSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { ExportResultCode, hrTimeToMilliseconds, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import type { IHeaders } from 'kafkajs';
import type { TracingConfig } from './config';
import { headersToStrings } from './kafka';

/**
 * Tracing (OpenTelemetry): one trace per command, from the HTTP request through the command topic, the processor's
 * transaction, the events, each projection's batch and each policy's reaction — the W3C `traceparent` rides in the
 * Kafka headers of the command and of its events. Off unless TRACING says where spans go: `otlp` (the collector at
 * OTEL_EXPORTER_OTLP_ENDPOINT) or `file` (JSON lines under STACK_DIR/traces, read by `npm run trace`). Without a
 * provider every call here is the API's no-op: nothing is recorded, nothing is added to a header.
 */
const tracer = () => trace.getTracer('cloudphone');

/** One span as the file exporter writes it (a line of JSON), and as `npm run trace` reads it. */
export interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
  startMs: number;
  durationMs: number;
  status: 'ok' | 'error' | 'unset';
  attributes: Attributes;
}

/** Writes finished spans as JSON lines into `<dir>/<service>-<pid>.jsonl`: a file per process, appended to. */
function fileExporter(dir: string, service: string): SpanExporter {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${service}-${process.pid}.jsonl`);
  // Appends one after another, off the event loop (a synchronous write per batch cost the command side).
  let writing: Promise<void> = Promise.resolve();
  return {
    export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
      try {
        const lines = spans.map((s) => {
          const line: SpanLine = {
            traceId: s.spanContext().traceId,
            spanId: s.spanContext().spanId,
            parentSpanId: s.parentSpanContext?.spanId,
            name: s.name,
            service,
            startMs: hrTimeToMilliseconds(s.startTime),
            durationMs: hrTimeToMilliseconds(s.duration),
            status: s.status.code === SpanStatusCode.ERROR ? 'error' : s.status.code === SpanStatusCode.OK ? 'ok' : 'unset',
            attributes: s.attributes,
          };
          return JSON.stringify(line);
        });
        const text = `${lines.join('\n')}\n`;
        writing = writing
          .then(() => appendFile(file, text))
          .then(
            () => done({ code: ExportResultCode.SUCCESS }),
            (err: unknown) => done({ code: ExportResultCode.FAILED, error: err as Error }),
          );
      } catch (err) {
        done({ code: ExportResultCode.FAILED, error: err as Error });
      }
    },
    shutdown: () => writing,
  };
}

/**
 * Starts tracing for this process (its composition root calls it once), sampling `sampleRatio` of new traces and
 * following the caller's decision for the rest. Returns how to flush and stop it.
 */
export function startTracing(cfg: TracingConfig, service: string): { shutdown: () => Promise<void> } {
  if (cfg.exporter === 'none') return { shutdown: async () => undefined };
  const exporter = cfg.exporter === 'otlp' ? new OTLPTraceExporter({ url: cfg.otlpEndpoint }) : fileExporter(cfg.dir, service);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(cfg.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 500 })],
  });
  provider.register();
  return { shutdown: () => provider.shutdown() };
}

/** The trace context of a Kafka message (its `traceparent` header), or the active one when it has none. */
export function contextOf(headers: IHeaders | undefined): Context {
  return propagation.extract(context.active(), headersToStrings(headers));
}

/** The headers that carry a span's context (or the active one) into a Kafka message: `traceparent`, `tracestate`. */
export function traceHeaders(span?: Span): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(span ? trace.setSpan(context.active(), span) : context.active(), carrier);
  return carrier;
}

/** Starts a span, a child of `parent` (a message's context) or of the active span. End it with `endSpan`. */
export function startSpan(name: string, opts: { parent?: Context; kind?: SpanKind; attributes?: Attributes } = {}): Span {
  return tracer().startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes }, opts.parent ?? context.active());
}

/** Ends a span: failed when an error is given (its message recorded). */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}

/** Runs `fn` with `span` active: what it sends (a command, a message) carries the span's context. */
export const withSpan = <T>(span: Span, fn: () => T): T => context.with(trace.setSpan(context.active(), span), fn);

/** Runs `fn` inside a new span (the active one while it runs), ended when it settles. */
export async function inSpan<T>(
  name: string,
  opts: { parent?: Context; kind?: SpanKind; attributes?: Attributes },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const span = startSpan(name, opts);
  try {
    const result = await context.with(trace.setSpan(opts.parent ?? context.active(), span), () => fn(span));
    endSpan(span);
    return result;
  } catch (err) {
    endSpan(span, err);
    throw err;
  }
}

export { SpanKind };
