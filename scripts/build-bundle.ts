/**
 * Writes the workflow bundle to one file (`npm run build:bundle -- <out-file>`, or `tsx scripts/build-bundle.ts
 * <out-file>`): the code a worker would otherwise bundle at start, built the same way (`bundleWorkflows` in
 * `lib/workflow-bundle.ts`). `worker/Dockerfile` runs it at build time and points `MO_WORKFLOW_BUNDLE` at the result,
 * so a container starts without webpack and every replica of an image runs byte-identical workflow code.
 */
import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflows, writeAtomically } from '../lib/workflow-bundle';

async function run(): Promise<void> {
  const out = process.argv[2];
  if (!out || process.argv.length > 3) {
    console.error('usage: tsx scripts/build-bundle.ts <out-file>');
    process.exit(2);
  }
  const file = path.resolve(out);
  const { code } = await bundleWorkflows();
  writeAtomically(file, code);
  console.log(`${file} ${fs.statSync(file).size} bytes`);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});
