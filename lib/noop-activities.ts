/* eslint-disable @typescript-eslint/require-await -- stand-ins answer at once, async like the activities they replace */
import type { Activities } from '../activities';
import type { BackupRecord, MetricReading } from '../model/status';
import type { MetricSpec } from '../model/plan';

type Fn = (...args: never[]) => unknown;
/** The activities' signatures, for implementations that do nothing real. */
export type NoopActivities = {
  [K in keyof Activities]: (...args: Parameters<Activities[K]>) => ReturnType<Activities[K]>;
};

/** Readings that pass every metric (value = threshold, which every inclusive comparator accepts). */
export function passingReadings(metrics: MetricSpec[]): MetricReading[] {
  return metrics.map((m) => ({
    name: m.name,
    value: m.op === '>' ? m.threshold + 1 : m.op === '<' ? m.threshold - 1 : m.threshold,
    op: m.op,
    threshold: m.threshold,
    passed: true,
    detail: 'stub',
    at: new Date().toISOString(),
  }));
}

/** Happy-path answers for every activity, as plain functions (benchmarks and stub workers use them directly). */
export function noopActivities(metrics: MetricSpec[]): NoopActivities {
  const backup = (step: string): BackupRecord => ({
    step,
    file: `/backups/${step}.dump`,
    sha256: `sha-${step}`,
    bytes: 100,
    tables: { 'public.submissions': 10 },
    verified: true,
    verifiedAt: new Date().toISOString(),
  });
  let percent = 0;
  const stubs: { [K in keyof Activities]: Fn } = {
    // Stub workers of workflow logic admit every run, explicitly, as a worker started --insecure-accept-unsigned.
    admitRun: async (i: { claimedBy?: string }) => ({ admitted: true, by: i.claimedBy ?? 'test', mode: 'insecure' }),
    backupDatabase: async (i: { step: string }) => backup(i.step),
    startContainers: async () => [],
    deployUnified: async () => [{ name: 'scorer-1', id: 'c1', service: 'scorer', running: true, status: 'Up' }],
    stopContainers: async () => ({ removed: [], skipped: [] }),
    listContainers: async () => [],
    runChecks: async (i: { kind: string; title: string; checks: { name: string }[] }) => ({
      kind: i.kind,
      title: i.title,
      passed: true,
      results: [],
      markdownFile: `/reports/${i.kind}.md`,
      jsonFile: `/reports/${i.kind}.json`,
      at: new Date().toISOString(),
    }),
    hostChecks: async () => [],
    evaluateMetrics: async () => passingReadings(metrics),
    compareOutputs: async () => ({ total: 100, matched: 100, ratio: 1, mismatches: [] }),
    setTrafficPercent: async (i: { percent: number }) => {
      const previous = percent;
      percent = i.percent;
      return { previous, current: percent, changed: previous !== percent };
    },
    getTrafficPercent: async () => percent,
    installUnifiedJob: async () => ({}),
    removeUnifiedJob: async () => ({}),
    disableLegacyJobs: async () => ({}),
    enableLegacyJobs: async () => ({}),
    // Every job asked about is scheduled: a rollback reads the legacy jobs back after it enables them.
    readSchedule: async (i: { jobs: { name: string; schedule: string; command: string[] }[] }) =>
      i.jobs.map((j) => ({ name: j.name, schedule: j.schedule, command: j.command.join(' '), enabled: true })),
    findLegacyJobs: async () => [],
    findUnifiedOwner: async () => undefined,
    archiveLegacyScripts: async () => ({
      commit: 'abc123',
      archiveDir: 'scripts/archive/monoliths_20260101',
      moved: [{ from: 'scripts/a.py', to: 'scripts/archive/monoliths_20260101/a.py', lines: 120 }],
      docsUpdated: [],
      alreadyDone: false,
    }),
    restoreArchivedScripts: async () => ({ commit: 'def456', alreadyDone: false }),
    notify: async () => ({ delivered: [] }),
    runJob: async () => ({ code: 0, output: '' }),
    writeCompletionReport: async () => ({
      markdownFile: '/reports/completion.md',
      jsonFile: '/reports/completion.json',
      rows: [],
    }),
    writeRollbackReport: async () => ({
      markdownFile: '/reports/rollback.md',
      jsonFile: '/reports/rollback.json',
    }),
    appendLedger: async (i: { entries: unknown[] }) => ({ inserted: i.entries.length }),
    readLedger: async () => [],
  };
  return stubs as unknown as NoopActivities;
}
