import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Brings the local stack up before the first suite of a tier that needs it (idempotent: a running stack is reused,
 * so the second tier's call returns at once). The unit tier has no such setup.
 */
export default function stackSetup(): void {
  execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'stack'), 'up'], { stdio: 'inherit' });
}
