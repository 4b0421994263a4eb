import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** Brings the local stack up once before all suites (idempotent: a running stack is reused). */
export default function globalSetup(): void {
  execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'stack'), 'up'], { stdio: 'inherit' });
}
