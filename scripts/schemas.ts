import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../lib/config';
import { createRegistry } from '../lib/registry';
import { renderEventTypes } from '../lib/schema-types';
import { loadEventSchemas, SCHEMAS_DIR } from '../lib/schemas';
import { eventTopics, topicsFor } from '../lib/topics';
import { checkCompatibility, schemasOf } from '../lib/bootstrap';
import { generatedTypesFile } from './schemas-files';

const root = path.resolve(__dirname, '..');

const program = new Command('schemas').description('The Avro schemas in schemas/: generated types and registry compatibility');

program
  .command('types')
  .description('write services/<aggregate>/events.generated.ts from the .avsc files')
  .action(() => {
    const schemas = loadEventSchemas();
    for (const folder of [...new Set(schemas.map((s) => s.folder))]) {
      const file = generatedTypesFile(folder);
      const text = renderEventTypes(
        folder,
        schemas.filter((s) => s.folder === folder),
      );
      const old = (() => {
        try {
          return readFileSync(file, 'utf8');
        } catch {
          return '';
        }
      })();
      if (old !== text) writeFileSync(file, text);
      console.log(`${old === text ? 'unchanged' : 'written  '} ${path.relative(root, file)}`);
    }
  });

program
  .command('check')
  .description("check every .avsc against the registry at its subject's compatibility level; exit 1 on a breaking change")
  .option('--dir <folder>', 'schemas folder to check', SCHEMAS_DIR)
  .action(async (opts: { dir: string }) => {
    const cfg = loadConfig();
    const registry = createRegistry(cfg, 'reader');
    const schemas = loadEventSchemas(path.resolve(opts.dir));
    let broken = 0;
    for (const topic of eventTopics(topicsFor(cfg.topics.namespace))) {
      for (const r of await checkCompatibility(registry, topic.events, schemasOf(topic, schemas))) {
        if (!r.compatible) broken++;
        console.log(`${r.compatible ? 'ok      ' : 'BREAKING'} ${path.relative(process.cwd(), r.file)} → ${r.subject} (${r.level})`);
        if (!r.compatible) for (const m of r.messages) console.log(`         ${m}`);
      }
    }
    console.log(broken === 0 ? 'every schema is compatible' : `${broken} schema(s) would break their subject`);
    process.exitCode = broken === 0 ? 0 : 1;
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`schemas: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
