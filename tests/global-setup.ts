import fs from 'node:fs';
import path from 'node:path';
import { ensureDemoKeys } from '../demo/keys';
import { SUMMARY_FILE } from './helpers/fault-summary';

/** Once per Jest run, every tier: the fault suite's summary covers this run only. */
export default function globalSetup(): void {
  // MO_KEEP_FAULT_SUMMARY=1: a second jest run adds to the first's.
  if (process.env.MO_KEEP_FAULT_SUMMARY !== '1') fs.rmSync(SUMMARY_FILE, { force: true });
  // Lock files a killed run left behind (tests/machine-environment.js): no file of this run holds one yet. A second
  // checkout on a shared stack (MO_SLOT_PREFIX) leaves them: they may be the first one's, held now.
  if (!process.env.MO_SLOT_PREFIX)
    fs.rmSync(path.join(process.env.MO_STACK_DIR ?? path.join(__dirname, '..', '.stack'), 'test-locks'), {
      recursive: true,
      force: true,
    });
  // plans/demo.yaml names its approvers' keys file: the keys exist before any test loads the plan.
  ensureDemoKeys();
}
