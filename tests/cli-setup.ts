import { execFileSync } from 'node:child_process';
import path from 'node:path';
import stackSetup from './stack-setup';

/**
 * Before a tier that needs the local stack: the stack (tests/stack-setup.ts), then the CLI bundle bin/migrate runs,
 * rebuilt when a source is newer. bin/migrate would rebuild it too, but here once, and a build error fails the run
 * instead of every CLI call falling back to tsx.
 */
export default function stackAndCliSetup(): void {
  stackSetup();
  execFileSync(process.execPath, [path.join(__dirname, '..', 'scripts', 'build-cli.mjs'), '--if-stale'], {
    stdio: 'inherit',
  });
}
