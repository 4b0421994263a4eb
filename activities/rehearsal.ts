/* eslint-disable @typescript-eslint/require-await -- the stand-ins keep the activities' async signatures and do no I/O */
import fs from 'node:fs';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { BackupRecord, MetricReading } from '../model/status';
import type { CheckSpec, Measurement, MetricSpec } from '../model/plan';
import type { CheckResult } from '../model/status';
import type { Activities } from './index';
import { containerName } from './containers';

/** What a production-changing activity would have done, at the virtual time the workflow asked for it. */
export interface WouldDo {
  at: string;
  activity: string;
  what: string;
}

/**
 * Something that would have failed, or could not be decided, in a real run; or (`would-run`) a check the rehearsal
 * did not run because it may change the target: neither passed nor failed.
 */
export interface Finding {
  at: string;
  kind: 'check' | 'metric' | 'comparison' | 'decision';
  severity: 'would-fail' | 'inconclusive' | 'needs-decision' | 'would-run';
  what: string;
}

/** Where the rehearsal activities record what they saw. */
export interface RehearsalLog {
  wouldDo: WouldDo[];
  findings: Finding[];
  /** Ledger rows the run would have written (counted, not written). */
  ledgerRows: number;
}

/** The workflow's (virtual) time of the current activity: the time-skipping server's clock, not the wall clock. */
const virtualNow = (): string => {
  try {
    return new Date(Context.current().info.currentAttemptScheduledTimestampMs).toISOString();
  } catch {
    return new Date().toISOString();
  }
};

const lineCount = (file: string): number => {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

/**
 * Whether a rehearsal runs a measurement: SQL does (one statement in a read-only transaction, `./checks`), an HTTP
 * GET does, a command only when the plan marks it `readOnly` (a load test writes: it is reported as "would run").
 */
export function runsInRehearsal(m: Measurement): boolean {
  return m.kind !== 'command' || m.readOnly === true;
}

/** The command line a real run would run, as the plan gives it (an argument with spaces or quotes in JSON quotes). */
export function commandLine(m: Measurement): string {
  if (m.kind !== 'command') return m.kind === 'sql' ? m.query : `GET ${m.url}`;
  if (m.shell) return m.command.join(' ');
  return m.command.map((a) => (/^[\w/.=:,+@%{}-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** The result of a check a rehearsal does not run: the command shown, neither passed nor failed. */
export function wouldRunResult(c: CheckSpec): CheckResult {
  const cmd = commandLine(c.measure);
  return {
    name: c.name,
    ...(c.description ? { description: c.description } : {}),
    value: null,
    op: c.op,
    threshold: c.threshold,
    ...(c.unit ? { unit: c.unit } : {}),
    passed: false,
    wouldRun: cmd,
    detail: `not run in a rehearsal (not marked readOnly): a real run runs ${cmd}`,
    durationMs: 0,
  };
}

/** The reading of a metric a rehearsal does not run: no value, inconclusive, the command shown. */
function wouldRunReading(m: MetricSpec): MetricReading {
  return {
    name: m.name,
    value: null,
    op: m.op,
    threshold: m.threshold,
    ...(m.unit ? { unit: m.unit } : {}),
    passed: null,
    detail: `not run in a rehearsal (not marked readOnly): a real run runs ${commandLine(m.measure)}`,
    ...(m.dryRun ? { dryRun: true } : {}),
    at: virtualNow(),
  };
}

const wouldRunFinding = (name: string, cmd: string) =>
  `${name}: not run, a real run runs \`${cmd}\` (a rehearsal runs only commands marked readOnly: true)`;

/** Records what a production-changing activity would have done. */
type Would = (activity: string, what: string) => void;
/** Records a finding of a read-only activity. */
type Find = (kind: Finding['kind'], severity: Finding['severity'], what: string) => void;

/**
 * The activities of a rehearsal: read-only ones run for real against the target (checks and metrics but their
 * commands not marked `readOnly`, output comparison, container listing), every production-changing one (backup, deploy, routing, scheduler, legacy stop,
 * archive, notifications, reports) records what it would do and does nothing. Real findings never stop the
 * rehearsal: a failed check or gate is recorded and the run goes on, so the whole timeline is seen.
 */
export function rehearsalActivities(real: Activities, log: RehearsalLog): Activities {
  const would = (activity: string, what: string) => log.wouldDo.push({ at: virtualNow(), activity, what });
  // A check or metric not run is one finding, however often the runbook asks for it (a metric at every bake).
  const seen = new Set<string>();
  const find = (kind: Finding['kind'], severity: Finding['severity'], what: string) => {
    if (severity === 'would-run' && seen.has(`${kind}:${what}`)) return;
    seen.add(`${kind}:${what}`);
    log.findings.push({ at: virtualNow(), kind, severity, what });
  };
  const acts: Activities = {
    ...real,
    ...deployStandIns(would),
    ...readOnlyRecorders(real, find),
    ...trafficStandIns(would),
    ...schedulerStandIns(would),
    ...repositoryStandIns(would),
    ...reportingStandIns(would, log),
  };
  return acts;
}

/** Backup and containers: what would be dumped, started and stopped. */
function deployStandIns(
  would: Would,
): Pick<Activities, 'backupDatabase' | 'startContainers' | 'deployUnified' | 'stopContainers'> {
  return {
    backupDatabase: async (i): Promise<BackupRecord> => {
      const file = path.join(i.backupDir, i.migrationId, `${i.step}.dump`);
      const on = i.verifyDatabaseUrlEnv ? ` on ${i.verifyDatabaseUrlEnv}'s server` : '';
      would(
        'backupDatabase',
        `pg_dump ${i.databaseUrlEnv} to ${file}, verified by a restore into a scratch database${on}`,
      );
      return {
        step: i.step,
        file,
        sha256: 'rehearsal',
        bytes: 0,
        tables: {},
        verified: true,
        verifiedAt: virtualNow(),
      };
    },
    startContainers: async (project, specs) => {
      would('startContainers', `start ${specs.map((s) => containerName(project, s.service)).join(', ')}`);
      return [];
    },
    deployUnified: async (i) => {
      would(
        'deployUnified',
        `start ${i.containers.map((c) => `${containerName(i.project, c.service)} (${c.image})`).join(', ')}`,
      );
      return i.containers.map((c) => ({
        name: containerName(i.project, c.service),
        id: 'rehearsal',
        service: c.service,
        running: true,
        status: 'rehearsal',
      }));
    },
    stopContainers: async (project) => {
      would('stopContainers', `stop and remove this migration's containers of ${project}`);
      return { removed: [], skipped: [] };
    },
  };
}

/**
 * Checks, metrics and the output comparison run for real, except commands not marked `readOnly` (reported as "would
 * run", in the check report too); what would fail is recorded and passed on as a pass.
 */
function readOnlyRecorders(
  real: Activities,
  find: Find,
): Pick<Activities, 'runChecks' | 'hostChecks' | 'evaluateMetrics' | 'compareOutputs'> {
  return {
    runChecks: async (i) => {
      const measured = i.measured ?? [];
      // Results given as measured are not measured again (`runChecks`): the check report shows them in plan order.
      const notRun = i.checks
        .filter((c) => !runsInRehearsal(c.measure) && !measured.some((r) => r.name === c.name))
        .map(wouldRunResult);
      // A rehearsal stores nothing: its report stays in its own folder.
      const r = await real.runChecks({ ...i, ledger: undefined, measured: [...measured, ...notRun] });
      for (const c of r.results.filter((x) => !x.passed))
        if (c.wouldRun !== undefined) find('check', 'would-run', wouldRunFinding(c.name, c.wouldRun));
        else
          find(
            'check',
            'would-fail',
            // A finding about the target says what is missing; a measured check, its value against its threshold.
            c.name.startsWith('target: ') && c.error
              ? `${c.name}: ${c.error}`
              : `${c.name} = ${c.value ?? c.error ?? 'no value'} (needs ${c.op} ${c.threshold})`,
          );
      return { ...r, passed: true };
    },
    // An agent's share: the same rule, its not-run commands go back to the central report as such.
    hostChecks: async (i) => [
      ...(await real.hostChecks({ ...i, checks: i.checks.filter((c) => runsInRehearsal(c.measure)) })),
      ...i.checks.filter((c) => !runsInRehearsal(c.measure)).map(wouldRunResult),
    ],
    evaluateMetrics: async (i): Promise<MetricReading[]> => {
      const notRun = i.metrics.filter((m) => !runsInRehearsal(m.measure));
      for (const m of notRun) find('metric', 'would-run', wouldRunFinding(m.name, commandLine(m.measure)));
      const toRun = i.metrics.filter((m) => runsInRehearsal(m.measure));
      const inPlanOrder = (readings: MetricReading[]) =>
        i.metrics.map((m) => readings.find((r) => r.name === m.name) ?? wouldRunReading(m));
      let readings: MetricReading[];
      try {
        readings = toRun.length ? await real.evaluateMetrics({ ...i, metrics: toRun }) : [];
      } catch (err) {
        find('metric', 'inconclusive', `metrics could not be measured: ${(err as Error).message}`);
        return inPlanOrder(
          toRun.map((m) => ({
            name: m.name,
            value: null,
            op: m.op,
            threshold: m.threshold,
            passed: null,
            detail: 'not measured (rehearsal)',
            at: virtualNow(),
          })),
        );
      }
      for (const r of readings) {
        if (r.passed === false) find('metric', 'would-fail', `${r.name} = ${r.value} (needs ${r.op} ${r.threshold})`);
        if (r.passed === null) find('metric', 'inconclusive', `${r.name}: no data`);
      }
      // Recorded, not acted on: the rehearsal goes on to show the rest of the timeline.
      return inPlanOrder(readings.map((r) => (r.passed === false ? { ...r, passed: null } : r)));
    },
    compareOutputs: async (i) => {
      try {
        const r = await real.compareOutputs(i);
        if (r.ratio === null) find('comparison', 'inconclusive', 'parallel run: no items to compare yet');
        else if (r.ratio < 1) find('comparison', 'would-fail', `parallel run: match ratio ${r.ratio}`);
        return { ...r, ratio: 1 };
      } catch (err) {
        find('comparison', 'inconclusive', `parallel run could not be compared: ${(err as Error).message}`);
        return { total: 0, matched: 0, ratio: 1, mismatches: [] };
      }
    },
  };
}

/** The routing, kept in memory: the percentage the rehearsal would have set. */
function trafficStandIns(would: Would): Pick<Activities, 'setTrafficPercent' | 'getTrafficPercent'> {
  let percent = 0;
  return {
    setTrafficPercent: async (i) => {
      const previous = percent;
      percent = i.percent;
      would('setTrafficPercent', `route ${i.percent}% of items to the unified pipeline (was ${previous}%)`);
      return { previous, current: percent, changed: previous !== percent };
    },
    getTrafficPercent: async () => percent,
  };
}

/** The scheduler: which jobs would be scheduled, unscheduled, disabled and re-enabled. */
function schedulerStandIns(
  would: Would,
): Pick<Activities, 'installUnifiedJob' | 'removeUnifiedJob' | 'disableLegacyJobs' | 'enableLegacyJobs'> {
  return {
    installUnifiedJob: async (i) => {
      would('installUnifiedJob', `schedule ${i.job.name} (${i.job.schedule}) in ${i.scheduler.kind}`);
      return { kind: i.scheduler.kind, changed: [i.job.name], unchanged: [] };
    },
    removeUnifiedJob: async (i) => {
      would('removeUnifiedJob', `unschedule ${i.job.name} in ${i.scheduler.kind}`);
      return { kind: i.scheduler.kind, changed: [i.job.name], unchanged: [] };
    },
    disableLegacyJobs: async (i) => {
      would('disableLegacyJobs', `disable ${i.jobs.map((j) => j.name).join(', ')} in ${i.scheduler.kind} (restorable)`);
      return { kind: i.scheduler.kind, changed: i.jobs.map((j) => j.name), unchanged: [] };
    },
    enableLegacyJobs: async (i) => {
      would('enableLegacyJobs', `re-enable ${i.jobs.map((j) => j.name).join(', ')} in ${i.scheduler.kind}`);
      return { kind: i.scheduler.kind, changed: i.jobs.map((j) => j.name), unchanged: [] };
    },
  };
}

/** The archive and its undo: what would be moved (with the real line counts) and reverted. */
function repositoryStandIns(would: Would): Pick<Activities, 'archiveLegacyScripts' | 'restoreArchivedScripts'> {
  return {
    archiveLegacyScripts: async (i) => {
      const archiveDir = path.posix.join('scripts', 'archive', `monoliths_${i.date}`);
      const moved = i.scripts.map((from) => ({
        from,
        to: path.posix.join(archiveDir, from),
        lines: lineCount(path.join(i.repository, from)),
      }));
      would('archiveLegacyScripts', `git mv ${i.scripts.join(', ')} to ${archiveDir}/ with a README, and commit`);
      return { commit: 'rehearsal', archiveDir, moved, docsUpdated: i.docs ?? [], alreadyDone: false };
    },
    restoreArchivedScripts: async (i) => {
      would('restoreArchivedScripts', `git revert the archive commit of ${i.migrationId}`);
      return { commit: 'rehearsal', alreadyDone: false };
    },
  };
}

/** Notifications, jobs, reports and the ledger: what would be sent, run and written (ledger rows only counted). */
function reportingStandIns(
  would: Would,
  log: RehearsalLog,
): Pick<Activities, 'notify' | 'runJob' | 'writeCompletionReport' | 'appendLedger' | 'writeRollbackReport'> {
  return {
    notify: async (i) => {
      would('notify', `${i.event}: ${i.subject}`);
      return { delivered: [] };
    },
    runJob: async (job) => {
      would('runJob', `run ${job.command.join(' ')}`);
      return { code: 0, output: '' };
    },
    writeCompletionReport: async (i) => {
      would('writeCompletionReport', `completion report in ${i.plan.target.reportDir}`);
      return { markdownFile: 'rehearsal', jsonFile: 'rehearsal', rows: [] };
    },
    appendLedger: async (i) => {
      log.ledgerRows += i.entries.length;
      return { inserted: i.entries.length };
    },
    writeRollbackReport: async (i) => {
      would('writeRollbackReport', `rollback report in ${i.plan.target.reportDir}`);
      return { markdownFile: 'rehearsal', jsonFile: 'rehearsal' };
    },
  };
}
