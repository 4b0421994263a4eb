import fs from 'node:fs';
import { SUMMARY_FILE } from './helpers/fault-summary';

/** Once per Jest run, every tier: the fault suite's summary covers this run only. */
export default function globalSetup(): void {
  // MO_KEEP_FAULT_SUMMARY=1: a second jest run adds to the first's.
  if (process.env.MO_KEEP_FAULT_SUMMARY !== '1') fs.rmSync(SUMMARY_FILE, { force: true });
}
