import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadPlan } from '../client/plan';
import { rehearse } from '../client/rehearse';
import { withDb } from '../demo/target';
import { ensureDatabase } from '../lib/admin-db';
import { projectRoot, requireEnv } from '../lib/config';
import { log, round, type Figures } from './lib';

/**
 * `migrate rehearse` of the production plan (its real 9.4 days) against a database with the pipeline's schema:
 * wall time per rehearsal (median of `runs`), virtual days covered and history events.
 */
export async function rehearsalBench(runs = 3): Promise<Figures> {
  const url = await ensureDatabase(requireEnv('DATABASE_URL'), 'mo_bench_rehearsal', { recreate: true });
  await withDb(url, (c) => c.query(fs.readFileSync(path.join(projectRoot, 'demo', 'system', 'schema.sql'), 'utf8')));
  process.env.TARGET_DATABASE_URL = url;
  const plan = loadPlan(path.join(projectRoot, 'plans', 'production.example.yaml'));
  const walls: number[] = [];
  let last: Awaited<ReturnType<typeof rehearse>> | undefined;
  for (let i = 0; i < runs; i++) {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mo-bench-rehearsal-'));
    last = await rehearse(plan, { outDir: out });
    if (last.outcome !== 'complete') throw new Error(`rehearsal ended ${last.outcome}: ${last.failure ?? ''}`);
    walls.push(last.wallMs / 1000);
    log(
      `  rehearsal ${i + 1}/${runs}: ${(last.wallMs / 1000).toFixed(1)} s wall for ${(last.virtualMs / 86_400_000).toFixed(1)} virtual days`,
    );
    fs.rmSync(out, { recursive: true, force: true });
  }
  walls.sort((a, b) => a - b);
  return {
    rehearsal_production_plan_wall_s: round(walls[Math.floor(walls.length / 2)]!, 1),
    rehearsal_production_plan_worst_s: round(walls.at(-1)!, 1),
    rehearsal_production_plan_virtual_days: round(last!.virtualMs / 86_400_000, 1),
    rehearsal_production_plan_events: last!.historyEvents.reduce((a, b) => a + b, 0),
    rehearsal_production_plan_ledger_rows: last!.ledgerRows,
  };
}
