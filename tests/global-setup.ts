import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SUMMARY_FILE } from './helpers/fault-summary';

/** Brings the local stack up once before all suites (idempotent: a running stack is reused). */
export default function globalSetup(): void {
  // The fault suite's summary covers this run only (MO_KEEP_FAULT_SUMMARY=1: a second jest run adds to the first's).
  if (process.env.MO_KEEP_FAULT_SUMMARY !== '1') fs.rmSync(SUMMARY_FILE, { force: true });
  execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'stack'), 'up'], { stdio: 'inherit' });
}
