import type { Activities } from '../../activities';
import type { BackupRecord, MetricReading } from '../../workflows/definitions';
import type { MetricSpec } from '../../workflows/plan';

type Fn = (...args: never[]) => unknown;
/** Every activity replaced by a `jest.fn` typed against the real factory: a renamed activity breaks compilation. */
export type StubActivities = {
  [K in keyof Activities]: jest.Mock<ReturnType<Activities[K]>, Parameters<Activities[K]>>;
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

/** Stubs with happy-path answers; tests override single activities with `mockImplementation…`. */
export function stubActivities(metrics: MetricSpec[]): StubActivities {
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
    backupDatabase: jest.fn(async (i: { step: string }) => backup(i.step)),
    startContainers: jest.fn(async () => []),
    deployUnified: jest.fn(async () => [
      { name: 'scorer-1', id: 'c1', service: 'scorer', running: true, status: 'Up' },
    ]),
    stopContainers: jest.fn(async () => []),
    listContainers: jest.fn(async () => []),
    runChecks: jest.fn(async (i: { kind: string; title: string; checks: { name: string }[] }) => ({
      kind: i.kind,
      title: i.title,
      passed: true,
      results: [],
      markdownFile: `/reports/${i.kind}.md`,
      jsonFile: `/reports/${i.kind}.json`,
      at: new Date().toISOString(),
    })),
    evaluateMetrics: jest.fn(async () => passingReadings(metrics)),
    compareOutputs: jest.fn(async () => ({ total: 100, matched: 100, ratio: 1, mismatches: [] })),
    setTrafficPercent: jest.fn(async (i: { percent: number }) => {
      const previous = percent;
      percent = i.percent;
      return { previous, current: percent, changed: previous !== percent };
    }),
    getTrafficPercent: jest.fn(async () => percent),
    installUnifiedJob: jest.fn(async () => ({})),
    removeUnifiedJob: jest.fn(async () => ({})),
    disableLegacyJobs: jest.fn(async () => ({})),
    enableLegacyJobs: jest.fn(async () => ({})),
    readSchedule: jest.fn(async () => []),
    archiveLegacyScripts: jest.fn(async () => ({
      commit: 'abc123',
      archiveDir: 'scripts/archive/monoliths_20260101',
      moved: [{ from: 'scripts/a.py', to: 'scripts/archive/monoliths_20260101/a.py', lines: 120 }],
      docsUpdated: [],
      alreadyDone: false,
    })),
    restoreArchivedScripts: jest.fn(async () => ({ commit: 'def456', alreadyDone: false })),
    notify: jest.fn(async () => ({ delivered: [] })),
    runJob: jest.fn(async () => ({ code: 0, output: '' })),
    writeCompletionReport: jest.fn(async () => ({
      markdownFile: '/reports/completion.md',
      jsonFile: '/reports/completion.json',
      rows: [],
    })),
    writeRollbackReport: jest.fn(async () => ({
      markdownFile: '/reports/rollback.md',
      jsonFile: '/reports/rollback.json',
    })),
  };
  return stubs as unknown as StubActivities;
}
