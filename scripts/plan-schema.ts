/**
 * Writes `plans/plan.schema.json`, the JSON Schema of the YAML plan form, from the zod schema in
 * `model/plan-schema.ts` (`npm run plan-schema`; a unit test fails while the committed file is stale). Editors
 * read it through the `# yaml-language-server: $schema=./plan.schema.json` line at the top of each plan.
 */
import fs from 'node:fs';
import path from 'node:path';
import { planJsonSchema } from '../model/plan-schema';

export const PLAN_SCHEMA_FILE = path.join(__dirname, '..', 'plans', 'plan.schema.json');

async function run(): Promise<void> {
  // Formatted as `prettier --check` expects it, so the generated file passes `npm run lint` as written. Loaded here,
  // not at the top: the unit test that imports this module for the file's path runs where prettier cannot load.
  const prettier = await import('prettier');
  const options = await prettier.resolveConfig(PLAN_SCHEMA_FILE);
  const json = JSON.stringify(planJsonSchema(), null, 2);
  fs.writeFileSync(PLAN_SCHEMA_FILE, await prettier.format(json, { ...options, filepath: PLAN_SCHEMA_FILE }));
  console.log(`wrote ${path.relative(process.cwd(), PLAN_SCHEMA_FILE)}`);
}

if (require.main === module) {
  run().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
