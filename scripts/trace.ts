import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../lib/config';
import type { SpanLine } from '../lib/tracing';

/**
 * `npm run trace -- <id>`: the trace of a command as a tree with durations, from the spans the processes wrote
 * with TRACING=file (STACK_DIR/traces/*.jsonl): the id is a correlation id (X-Correlation-Id, or the one a command
 * answer's events carry), a command id or a trace id.
 */
export function readSpans(dir: string): SpanLine[] {
  if (!existsSync(dir)) return [];
  const spans: SpanLine[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    for (const line of readFileSync(path.join(dir, file), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        spans.push(JSON.parse(line) as SpanLine);
      } catch {
        /* a line cut by a process that died while writing */
      }
    }
  }
  return spans;
}

/** The traces an id names: its own, or those whose spans carry it as correlation or command id. */
export function tracesOf(spans: readonly SpanLine[], id: string): string[] {
  const named = spans.filter(
    (s) => s.traceId === id || s.attributes['cloudphone.correlation_id'] === id || s.attributes['cloudphone.command_id'] === id,
  );
  return [...new Set(named.map((s) => s.traceId))];
}

/** A trace as indented lines: each span with its process, its start after the trace's and its duration. */
export function treeLines(spans: readonly SpanLine[], traceId: string): string[] {
  const mine = spans.filter((s) => s.traceId === traceId).sort((a, b) => a.startMs - b.startMs);
  const ids = new Set(mine.map((s) => s.spanId));
  const t0 = mine[0]?.startMs ?? 0;
  const children = new Map<string, SpanLine[]>();
  for (const s of mine) {
    const parent = s.parentSpanId && ids.has(s.parentSpanId) ? s.parentSpanId : '';
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const lines: string[] = [];
  const walk = (s: SpanLine, depth: number) => {
    const detail = ['cloudphone.event_type', 'cloudphone.events', 'http.response.status_code']
      .filter((k) => s.attributes[k] !== undefined)
      .map((k) => `${k.split('.').pop()}=${String(s.attributes[k])}`);
    lines.push(
      `${'  '.repeat(depth)}${s.name}  [${s.service}]  +${(s.startMs - t0).toFixed(1)} ms  ${s.durationMs.toFixed(1)} ms` +
        `${s.status === 'error' ? '  ERROR' : ''}${detail.length ? `  (${detail.join(', ')})` : ''}`,
    );
    for (const c of children.get(s.spanId) ?? []) walk(c, depth + 1);
  };
  for (const root of children.get('') ?? []) walk(root, 0);
  return lines;
}

if (require.main === module) {
  new Command('trace')
    .description('print the trace of a command as a tree with durations (spans written with TRACING=file)')
    .argument('<id>', 'a correlation id, a command id or a trace id')
    .option('--dir <dir>', 'where the spans are (default: STACK_DIR/traces)')
    .action((id: string, o: { dir?: string }) => {
      const dir = o.dir ?? loadConfig().tracing.dir;
      const spans = readSpans(dir);
      const traces = tracesOf(spans, id);
      if (traces.length === 0) {
        console.error(`trace: no span of ${id} in ${dir} (processes write spans there with TRACING=file)`);
        process.exit(1);
      }
      for (const t of traces) {
        console.log(`trace ${t}`);
        for (const line of treeLines(spans, t)) console.log(`  ${line}`);
      }
    })
    .parse();
}
