import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { dockerClient } from '../activities/docker';
import { rehearsalActivities, type Finding, type RehearsalLog, type WouldDo } from '../activities/rehearsal';
import { applyStackEnv, loadConfig } from '../lib/config';
import { drive, signalHandled, virtualClock, withTestKeys } from '../lib/drive';
import { signRequest, type Signer } from '../lib/signing';
import { claimFor } from '../model/auth';
import { bundleWorkflows, createTimeSkippingEnv, firstTaskCompleted } from '../lib/time-skipping';
import { resumeSignal } from '../workflows/definitions';
import { type MigrationStatus } from '../model/status';
import { WorkflowType, type Phase } from '../model/constants';
import type { MigrationInput } from '../model/status';
import type { Plan } from '../model/plan';
import { workerInterceptors } from '../worker/redact';
import { workerDataConverter } from '../lib/codec';

/** One phase of the rehearsed timeline, in virtual time. */
export interface TimelineRow {
  phase: Phase;
  start: string;
  end: string;
  durationMs: number;
  /** For a gate: the roles that must act (one person each). */
  mustAct?: string[];
}

/** What a rehearsal found out about a plan. */
export interface Rehearsal {
  plan: string;
  migrationId: string;
  /** The phase the rehearsed migration ended in (`complete` unless the plan itself stops it). */
  outcome: Phase;
  failure?: string;
  virtualStart: string;
  virtualEnd: string;
  virtualMs: number;
  wallMs: number;
  timeline: TimelineRow[];
  /** History events of each run of the rehearsed workflow (more than one when the soak continues as new). */
  historyEvents: number[];
  /** Rows the measurement ledger would have received. */
  ledgerRows: number;
  wouldDo: WouldDo[];
  findings: Finding[];
  markdownFile: string;
  jsonFile: string;
}

const human = (ms: number): string => {
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h${m ? ` ${m}m` : ''}` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
};

/**
 * Runs a plan — its real durations — in virtual time on the time-skipping test server, against the real target in
 * read-only mode (see `rehearsalActivities`). Gates are signed as soon as they open, by one stand-in per role, so the
 * timeline shows who must act and when. Writes `rehearsal-<name>.md` and `.json` to `outDir`.
 */
export async function rehearse(
  plan: Plan,
  opts: { outDir: string; print?: (line: string) => void },
): Promise<Rehearsal> {
  applyStackEnv();
  const config = loadConfig();
  const print = opts.print ?? (() => undefined);
  const t0 = Date.now();
  fs.mkdirSync(opts.outDir, { recursive: true });
  // Whatever the checks write goes into the rehearsal's folder, not the plan's report folder. Approvals are signed
  // and verified as in production, with throwaway keys in place of the approvers' (nobody signs a rehearsal).
  const keyed = plan.approvals.keys ? withTestKeys(plan) : { plan, signers: {} };
  const rehearsed: Plan = {
    ...keyed.plan,
    target: { ...plan.target, reportDir: path.join(opts.outDir, 'reports') },
  };
  const log: RehearsalLog = { wouldDo: [], findings: [], ledgerRows: 0 };
  const [env, bundle] = await Promise.all([createTimeSkippingEnv(), bundleWorkflows()]);
  try {
    // The rehearsal's own in-process worker on the test server admits its own run: nothing it runs can change the
    // target (production-changing activities only record what they would do), and the operator started it.
    const real = createActivities({
      docker: dockerClient(config.dockerHost),
      client: env.client,
      admission: { insecure: true, workflowQueues: [] },
    });
    const taskQueue = 'rehearsal';
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities: rehearsalActivities(real, log),
      interceptors: workerInterceptors,
      dataConverter: workerDataConverter(),
    });
    return await worker.runUntil(async () => {
      const migrationId = `rehearsal-${plan.name}`;
      const virtualStart = await env.currentTimeMs();
      const handle = await env.client.workflow.start(WorkflowType.migrationWorkflow, {
        taskQueue,
        workflowId: migrationId,
        args: [{ migrationId, plan: rehearsed, startedBy: 'rehearsal' } satisfies MigrationInput],
      });
      await firstTaskCompleted(handle);
      print(`rehearsing ${plan.name} in virtual time…`);
      const final = await driveToEnd(env, handle, rehearsed, log, keyed.signers);
      const virtualEnd = await env.currentTimeMs();
      const historyEvents = await historyEventsOf(env, handle, migrationId);
      const timeline = timelineOf(final, virtualEnd);
      const base = path.join(opts.outDir, `rehearsal-${plan.name}`);
      const result: Rehearsal = {
        plan: plan.name,
        migrationId,
        outcome: final.phase,
        ...(final.failure ? { failure: final.failure } : {}),
        virtualStart: new Date(virtualStart).toISOString(),
        virtualEnd: new Date(virtualEnd).toISOString(),
        virtualMs: virtualEnd - virtualStart,
        wallMs: Date.now() - t0,
        timeline,
        historyEvents,
        ledgerRows: log.ledgerRows,
        wouldDo: log.wouldDo,
        findings: log.findings,
        markdownFile: `${base}.md`,
        jsonFile: `${base}.json`,
      };
      writeRehearsal(result);
      return result;
    });
  } finally {
    await env.teardown();
  }
}

/** Drives the rehearsed migration to its end, signing each gate as it opens; returns its final status. */
function driveToEnd(
  env: TestWorkflowEnvironment,
  handle: WorkflowHandle,
  rehearsed: Plan,
  log: RehearsalLog,
  signers: Record<string, Signer>,
): Promise<MigrationStatus> {
  return drive(virtualClock(env), handle, rehearsed, {
    timeoutMs: 600_000,
    signers,
    // Where a real run would stop and ask a person (an inconclusive gate, a blocked archive), the rehearsal
    // records it and goes on as if they said "resume".
    onStatus: async (s) => {
      if (!s.paused || !s.attention) return false;
      log.findings.push({
        at: new Date(await env.currentTimeMs()).toISOString(),
        kind: 'decision',
        severity: 'needs-decision',
        what: s.attention,
      });
      // A forward move: with keys in the plan it is signed, here by the first stand-in.
      const [who, signer] = Object.entries(signers)[0] ?? [];
      const args = { requestedBy: who ?? 'rehearsal', reason: 'rehearsal goes on' };
      const target = { migrationId: s.migrationId, planDigest: s.planDigest ?? '', atMs: await env.currentTimeMs() };
      const signature =
        signer && s.approvalsAuthenticated
          ? await signRequest(claimFor({ kind: 'resume', args }), target, signer)
          : undefined;
      await signalHandled(handle, (h) => h.signal(resumeSignal, { ...args, ...(signature ? { signature } : {}) }));
      return true;
    },
  });
}

/** Events per run, newest first along the continue-as-new chain. */
async function historyEventsOf(
  env: TestWorkflowEnvironment,
  handle: WorkflowHandle,
  migrationId: string,
): Promise<number[]> {
  const historyEvents: number[] = [];
  for (let runId: string | undefined = (await handle.describe()).runId; runId;) {
    const h = await env.client.workflow.getHandle(migrationId, runId).fetchHistory();
    historyEvents.unshift(h.events?.length ?? 0);
    runId = h.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return historyEvents;
}

/** The phase timeline with each phase's end (the next one's start, the last one's the rehearsal's end). */
function timelineOf(final: MigrationStatus, virtualEnd: number): TimelineRow[] {
  return final.phaseTimeline.map((p, i, all) => {
    const end = all[i + 1]?.at ?? new Date(virtualEnd).toISOString();
    const gate = p.phase.startsWith('gate:') ? final.gates[p.phase.slice(5) as keyof typeof final.gates] : undefined;
    return {
      phase: p.phase,
      start: p.at,
      end,
      durationMs: Date.parse(end) - Date.parse(p.at),
      ...(gate ? { mustAct: gate.requiredRoles } : {}),
    };
  });
}

/** Writes the rehearsal's JSON and Markdown files. */
function writeRehearsal(result: Rehearsal): void {
  fs.writeFileSync(result.jsonFile, `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(result.markdownFile, renderRehearsal(result));
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The verdict's line on the commands a rehearsal did not run (not marked `readOnly: true`), if any. */
function notRun(r: Rehearsal): string[] {
  const n = r.findings.filter((f) => f.severity === 'would-run').length;
  if (!n) return [];
  return [
    `**${n} check(s) NOT RUN** (commands not marked \`readOnly: true\`): this rehearsal says nothing of them; a real run runs them before anything changes.`,
    '',
  ];
}

/** The rehearsal as Markdown: timeline, who must act, what would change, what would fail. */
export function renderRehearsal(r: Rehearsal): string {
  const out = [
    `# Rehearsal: ${r.plan}`,
    '',
    `Ended **${r.outcome}**${r.failure ? ` (${r.failure})` : ''} after ${human(r.virtualMs)} of virtual time ` +
      `(${r.virtualStart} → ${r.virtualEnd}), in ${(r.wallMs / 1000).toFixed(1)} s of wall time; ` +
      `${r.historyEvents.reduce((a, b) => a + b, 0)} history events in ${r.historyEvents.length} run(s); ` +
      `${r.ledgerRows} ledger rows.`,
    '',
    'Nothing was changed: backups, deploys, routing, scheduler, archive and notifications only said what they would do; SQL ran as single read-only statements.',
    '',
    ...notRun(r),
    '## Timeline',
    '',
    '| Phase | Start (virtual) | End (virtual) | Duration | Who must act |',
    '|---|---|---|---|---|',
    ...r.timeline.map(
      (t) => `| ${t.phase} | ${t.start} | ${t.end} | ${human(t.durationMs)} | ${t.mustAct?.join(', ') ?? ''} |`,
    ),
    '',
    `## What would have failed, was inconclusive or was not run (${r.findings.length})`,
    '',
    ...(r.findings.length
      ? ['| When (virtual) | Kind | Severity | What |', '|---|---|---|---|']
      : ['Nothing: every check, gate and comparison passed against the target as it is now.']),
    ...r.findings.map((f) => `| ${f.at} | ${f.kind} | ${f.severity} | ${cell(f.what)} |`),
    '',
    `## What it would have done (${r.wouldDo.length})`,
    '',
    '| When (virtual) | Activity | Would |',
    '|---|---|---|',
    ...r.wouldDo.map((w) => `| ${w.at} | ${w.activity} | ${cell(w.what)} |`),
    '',
  ];
  return out.join('\n');
}
