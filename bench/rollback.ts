import net from 'node:net';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { runCommand } from '../activities/process';
import { connectClient } from '../client/connection';
import { DEMO_DATABASE, runDemo } from '../demo/demo';
import { loadConfig, projectRoot } from '../lib/config';
import { rollbackSignal } from '../workflows/definitions';
import { rollbackWorkflowId } from '../model/status';
import type { Plan } from '../model/plan';
import { log, quantile, round, type Figures } from './lib';

const PLAN = path.join(projectRoot, 'plans', 'demo.yaml');
const SCRIPT = path.join(projectRoot, 'bench', 'rollback.sh');
type Event = temporal.api.history.v1.IHistoryEvent;

/** The demo plan, shortened to reach the soak fast and then stay in it (every production change made). */
function toSoak(plan: Plan): void {
  plan.preflight = plan.preflight.filter((c) => c.name === 'cost-check');
  plan.durations = {
    parallelRunMs: 2_000,
    bakeMs: 1_000,
    monitoringWindowMs: 1_000,
    soakMs: 600_000,
    soakIntervalMs: 300_000,
  };
}

/** The demo plan, shortened; with the error-spike fault its first traffic step fails its gate. */
function toGateFailure(plan: Plan): void {
  toSoak(plan);
  plan.durations.bakeMs = 3_000;
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds) * 1000 + Math.round((t.nanos ?? 0) / 1e6) : NaN;

/** When the rollback workflow of `migrationId` started and closed (server clock), once it has closed. */
async function rollbackTimes(migrationId: string): Promise<{ start: number; close: number }> {
  const client = await connectClient(loadConfig());
  try {
    const handle = client.workflow.getHandle(rollbackWorkflowId(migrationId));
    await handle.result();
    const d = await handle.describe();
    return { start: d.startTime.getTime(), close: d.closeTime!.getTime() };
  } finally {
    await client.connection.close();
  }
}

/** Time of the metric evaluation whose failure started the rollback: the last activity completed before it. */
async function failedGateAt(migrationId: string): Promise<number> {
  const client = await connectClient(loadConfig());
  try {
    const events: Event[] = (await client.workflow.getHandle(migrationId).fetchHistory()).events ?? [];
    const child = events.findIndex((e) => e.startChildWorkflowExecutionInitiatedEventAttributes);
    const done = events.slice(0, child).filter((e) => e.activityTaskCompletedEventAttributes);
    return ms(done.at(-1)?.eventTime);
  } finally {
    await client.connection.close();
  }
}

/** One orchestrated rollback from the soak, requested by a `rollback` signal: seconds to "legacy path verified". */
async function bySignal(): Promise<number> {
  let sentAt = 0;
  const outcome = await runDemo({
    plan: PLAN,
    print: () => undefined,
    adjustPlan: toSoak,
    onStatus: async (s, handle) => {
      if (s.phase !== 'soak' || sentAt) return;
      sentAt = Date.now();
      await handle.signal(rollbackSignal, { reason: 'benchmark', requestedBy: 'bench' });
    },
  });
  if (outcome.phase !== 'rolled-back') throw new Error(`signal run ended ${outcome.phase}`);
  const { close } = await rollbackTimes(outcome.workflowId);
  return (close - sentAt) / 1000;
}

/** One automatic rollback after a failed metric gate: seconds to verified, and ms from the failure to its start. */
async function byFailedGate(): Promise<{ seconds: number; toStartMs: number }> {
  const outcome = await runDemo({
    plan: PLAN,
    print: () => undefined,
    fault: 'error-spike',
    adjustPlan: toGateFailure,
  });
  if (outcome.phase !== 'rolled-back') throw new Error(`gate run ended ${outcome.phase}`);
  const failedAt = await failedGateAt(outcome.workflowId);
  const { start, close } = await rollbackTimes(outcome.workflowId);
  return { seconds: (close - failedAt) / 1000, toStartMs: start - failedAt };
}

/**
 * The shell baseline on the same state: the migration is driven to the soak, terminated (no orchestrator left), and
 * `bench/rollback.sh` performs the same operations and verification directly.
 */
async function byScript(): Promise<number> {
  let plan: Plan | undefined;
  let seconds = NaN;
  await runDemo({
    plan: PLAN,
    print: () => undefined,
    adjustPlan: (p) => {
      toSoak(p);
      plan = p;
    },
    onStatus: async (s, handle) => {
      if (s.phase !== 'soak') return;
      await handle.terminate('benchmark: the shell script rolls back');
      const p = plan!;
      const saved = path.join(p.target.backupDir, handle.workflowId, 'crontab', 'before-install-unified.bak');
      const user = p.scheduler.kind === 'crontab' ? (p.scheduler.user ?? 'root') : 'root';
      const t0 = Date.now();
      const r = await runCommand('bash', [SCRIPT, p.target.composeProject, user, saved], {
        env: { ...process.env, DATABASE_URL: process.env[p.target.databaseUrlEnv] },
      });
      seconds = (Date.now() - t0) / 1000;
      if (r.code !== 0) throw new Error(`rollback.sh exited ${r.code}: ${r.stderr}`);
      return 'stop';
    },
  });
  return seconds;
}

/** A receiver that accepts connections and never answers (a hung webhook, an SMTP server that never greets). */
async function blackhole(): Promise<{ port: number; close: () => Promise<void> }> {
  const held: net.Socket[] = [];
  const server = net.createServer((sock) => {
    held.push(sock);
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * A TCP proxy in front of the stack's PostgreSQL that can be cut: from `cut()` on, open connections are dropped and
 * new ones refused (the port closes), as when the ledger database goes down in the middle of a migration.
 */
async function cuttableProxy(to: { host: string; port: number }): Promise<{ port: number; cut: () => void }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(to.port, to.host);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => (open.delete(a), b.destroy()));
      a.pipe(b);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => {
      server.close();
      for (const sock of open) sock.destroy();
    },
  };
}

/** The plan's notifications pointed at dead receivers and its ledger behind the proxy (variables of the worker). */
function withDeadChannels(plan: Plan): void {
  plan.notifications = {
    webhook: { urlEnv: 'MO_BENCH_WEBHOOK_URL' },
    email: { smtpUrlEnv: 'MO_BENCH_SMTP_URL', from: 'bench@example.com', to: ['ops@example.com'] },
  };
  plan.ledger = { ...plan.ledger, databaseUrlEnv: 'MO_BENCH_LEDGER_URL' };
}

/**
 * The worker environment of a run with every notification channel hung and the ledger database reached through a
 * proxy that `cutLedger()` takes down. The ledger is the demo target's database (its own default), and the preflight
 * checks it (a migration does not start without its ledger): the bench cuts it once the preflight has passed.
 */
async function deadChannels(): Promise<{ env: NodeJS.ProcessEnv; cutLedger: () => void; close: () => Promise<void> }> {
  const hook = await blackhole();
  const smtp = await blackhole();
  const pg = new URL(process.env.DATABASE_URL ?? '');
  const proxy = await cuttableProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
  const ledger = new URL(pg);
  ledger.host = `127.0.0.1:${proxy.port}`;
  ledger.pathname = `/${DEMO_DATABASE}`;
  return {
    env: {
      MO_BENCH_WEBHOOK_URL: `http://127.0.0.1:${hook.port}/hook`,
      MO_BENCH_SMTP_URL: `smtp://127.0.0.1:${smtp.port}?tls=off`,
      MO_BENCH_LEDGER_URL: ledger.toString(),
    },
    cutLedger: proxy.cut,
    close: async () => {
      proxy.cut();
      await hook.close();
      await smtp.close();
    },
  };
}

/** The failed-gate rollback with every notification channel hung and the ledger database down since the preflight. */
async function byFailedGateDead(): Promise<number> {
  const dead = await deadChannels();
  let cut = false;
  try {
    const outcome = await runDemo({
      plan: PLAN,
      print: () => undefined,
      fault: 'error-spike',
      workerEnv: dead.env,
      adjustPlan: (p) => {
        toGateFailure(p);
        withDeadChannels(p);
      },
      onStatus: (s) => {
        if (!cut && s.phase !== 'preflight') {
          cut = true;
          dead.cutLedger();
        }
        return Promise.resolve();
      },
    });
    if (!cut) throw new Error(`dead-channel gate run never left its preflight (${outcome.phase})`);
    if (outcome.phase !== 'rolled-back') throw new Error(`dead-channel gate run ended ${outcome.phase}`);
    const failedAt = await failedGateAt(outcome.workflowId);
    const { close } = await rollbackTimes(outcome.workflowId);
    return (close - failedAt) / 1000;
  } finally {
    await dead.close();
  }
}

/** Seconds a whole demo migration (`plans/demo.yaml` as `npm run demo` runs it) takes to complete, healthy or with a hung webhook receiver. */
async function completeRun(hungWebhook: boolean): Promise<number> {
  const hook = hungWebhook ? await blackhole() : undefined;
  try {
    const t0 = Date.now();
    const outcome = await runDemo({
      plan: PLAN,
      print: () => undefined,
      ...(hook ? { workerEnv: { MO_BENCH_WEBHOOK_URL: `http://127.0.0.1:${hook.port}/hook` } } : {}),
      adjustPlan: (p) => {
        if (hook) p.notifications = { webhook: { urlEnv: 'MO_BENCH_WEBHOOK_URL' } };
      },
    });
    if (outcome.phase !== 'complete') throw new Error(`complete run ended ${outcome.phase}`);
    const d = await (await connectClient(loadConfig())).workflow.getHandle(outcome.workflowId).describe();
    return (d.closeTime!.getTime() - d.startTime.getTime()) / 1000 || (Date.now() - t0) / 1000;
  } finally {
    await hook?.close();
  }
}

/** Whole migrations healthy and with a hung webhook receiver, `runs` times each: notifications never hold the runbook. */
export async function notificationsBench(runs: number): Promise<Figures> {
  const healthy: number[] = [];
  const hung: number[] = [];
  const deadGate: number[] = [];
  for (let i = 1; i <= runs; i++) {
    healthy.push(await completeRun(false));
    hung.push(await completeRun(true));
    deadGate.push(await byFailedGateDead());
    log(
      `notifications run ${i}/${runs}: complete ${healthy.at(-1)} s, with a hung webhook ${hung.at(-1)} s; failed gate with dead channels ${deadGate.at(-1)} s`,
    );
  }
  const h = quantile(healthy, 0.5)!;
  const x = quantile(hung, 0.5)!;
  return {
    notifications_runs: runs,
    complete_healthy_median_s: round(h, 1),
    complete_hung_webhook_median_s: round(x, 1),
    complete_hung_vs_healthy_ratio: round(x / h, 2),
    rollback_dead_notifications_s: round(quantile(deadGate, 0.5), 2),
    rollback_dead_notifications_worst_s: round(Math.max(...deadGate), 2),
  };
}

/** Rollback time, orchestrated (by signal and by failed gate) and by the shell script, `runs` times each. */
export async function rollbackBench(runs: number): Promise<Figures> {
  const signal: number[] = [];
  const gate: number[] = [];
  const toStart: number[] = [];
  const script: number[] = [];
  for (let i = 1; i <= runs; i++) {
    signal.push(await bySignal());
    script.push(await byScript());
    const g = await byFailedGate();
    gate.push(g.seconds);
    toStart.push(g.toStartMs);
    log(`rollback run ${i}/${runs}: signal ${signal.at(-1)} s, script ${script.at(-1)} s, failed gate ${g.seconds} s`);
  }
  const median = quantile(signal, 0.5)!;
  const scriptMedian = quantile(script, 0.5)!;
  return {
    rollback_runs: runs,
    rollback_median_s: round(median, 2),
    rollback_worst_s: round(Math.max(...signal), 2),
    rollback_script_median_s: round(scriptMedian, 2),
    rollback_script_worst_s: round(Math.max(...script), 2),
    rollback_vs_script_ratio: round(median / scriptMedian, 2),
    rollback_failed_gate_median_s: round(quantile(gate, 0.5), 2),
    rollback_failed_gate_worst_s: round(Math.max(...gate), 2),
    gate_failure_to_rollback_real_median_ms: round(quantile(toStart, 0.5), 0),
  };
}
