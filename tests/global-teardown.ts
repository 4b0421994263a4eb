import fs from 'node:fs';
import { renderFaultSummary, SUMMARY_FILE, type FaultRow } from './helpers/fault-summary';

/** Prints the fault suite's table (faults survived, bad inputs refused, submissions lost or doubled, secrets found). */
export default function globalTeardown(): void {
  if (!fs.existsSync(SUMMARY_FILE)) return;
  const rows = fs
    .readFileSync(SUMMARY_FILE, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FaultRow);
  process.stdout.write(`${renderFaultSummary(rows)}\n`);
}
