import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { archiveLegacyScripts, restoreArchivedScripts } from '../../activities/archive';
import { tempDir } from '../helpers/stack';

function makeRepo(): string {
  const repo = tempDir('mo-archive');
  const w = (f: string, t: string) => {
    fs.mkdirSync(path.dirname(path.join(repo, f)), { recursive: true });
    fs.writeFileSync(path.join(repo, f), t);
  };
  w('scripts/legacy_batch.py', 'import db\n\nfor row in db.rows():\n    score(row)\n');
  w('scripts/api_ingest.py', 'print("ingest")\n');
  w('docs/operations.md', '# Ops\n\nRun `scripts/legacy_batch.py` hourly and `scripts/api_ingest.py` daily.\n');
  const git = (...a: string[]) => execFileSync('git', a, { cwd: repo, encoding: 'utf8' });
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'T');
  git('config', 'user.email', 't@example.com');
  git('add', '-A');
  git('commit', '-q', '-m', 'legacy');
  return repo;
}

const gitIn = (repo: string, ...a: string[]) => execFileSync('git', a, { cwd: repo, encoding: 'utf8' });
const input = (repository: string, migrationId = 'm-arch') => ({
  migrationId,
  repository,
  scripts: ['scripts/legacy_batch.py', 'scripts/api_ingest.py'],
  docs: ['docs/operations.md'],
  date: '20261125',
  reason: 'Replaced by the unified pipeline',
  replacement: 'unified-pipeline',
  rollbackProcedure: 'migrate rollback m-arch',
});

describe('archive in a real git repository', () => {
  it('moves the scripts, writes the README, updates the docs and commits once', async () => {
    const repo = makeRepo();
    const res = await archiveLegacyScripts(input(repo));
    expect(res.moved).toEqual([
      { from: 'scripts/legacy_batch.py', to: 'scripts/archive/monoliths_20261125/legacy_batch.py', lines: 4 },
      { from: 'scripts/api_ingest.py', to: 'scripts/archive/monoliths_20261125/api_ingest.py', lines: 1 },
    ]);
    expect(gitIn(repo, 'rev-parse', 'HEAD').trim()).toBe(res.commit);
    expect(gitIn(repo, 'log', '-1', '--format=%B')).toContain('Migration-Id: m-arch');
    expect(gitIn(repo, 'ls-files').split('\n').filter(Boolean).sort()).toEqual([
      'docs/operations.md',
      'scripts/archive/monoliths_20261125/README.md',
      'scripts/archive/monoliths_20261125/api_ingest.py',
      'scripts/archive/monoliths_20261125/legacy_batch.py',
    ]);
    const readme = fs.readFileSync(path.join(repo, 'scripts/archive/monoliths_20261125/README.md'), 'utf8');
    expect(readme).toContain(
      '| `scripts/legacy_batch.py` | `scripts/archive/monoliths_20261125/legacy_batch.py` | 4 |',
    );
    expect(readme).toContain('**Total** | | **5**');
    expect(readme).toContain('## Rollback procedure');
    const ops = fs.readFileSync(path.join(repo, 'docs/operations.md'), 'utf8');
    expect(ops).toContain(
      'Run `unified-pipeline` (the unified pipeline; the retired `scripts/legacy_batch.py` is archived, see `scripts/archive/monoliths_20261125/README.md`) hourly',
    );
    expect(ops).not.toContain('monoliths_20261125/legacy_batch.py');
    expect(gitIn(repo, 'status', '--porcelain')).toBe('');

    const again = await archiveLegacyScripts(input(repo));
    expect(again).toMatchObject({ commit: res.commit, alreadyDone: true, moved: res.moved });
    expect(gitIn(repo, 'rev-list', '--count', 'HEAD').trim()).toBe('2');

    const restored = await restoreArchivedScripts({ migrationId: 'm-arch', repository: repo });
    expect(restored.alreadyDone).toBe(false);
    expect(fs.readFileSync(path.join(repo, 'scripts/legacy_batch.py'), 'utf8')).toContain('score(row)');
    expect(fs.existsSync(path.join(repo, 'scripts/archive'))).toBe(false);
    expect(await restoreArchivedScripts({ migrationId: 'm-arch', repository: repo })).toEqual({
      commit: restored.commit,
      alreadyDone: true,
    });
    expect(gitIn(repo, 'rev-list', '--count', 'HEAD').trim()).toBe('3');
  });

  it('refuses a dirty repository and paths outside it, before changing anything', async () => {
    const repo = makeRepo();
    fs.appendFileSync(path.join(repo, 'docs/operations.md'), 'local edit\n');
    await expect(archiveLegacyScripts(input(repo))).rejects.toMatchObject({
      type: 'RepositoryDirty',
      message: expect.stringContaining('uncommitted changes'),
    });
    gitIn(repo, 'checkout', '--', 'docs/operations.md');
    await expect(archiveLegacyScripts({ ...input(repo), scripts: ['../etc/passwd'] })).rejects.toMatchObject({
      type: 'InvalidInput',
      message: expect.stringContaining('outside the repository'),
    });
    fs.symlinkSync('/etc', path.join(repo, 'scripts', 'escape'));
    gitIn(repo, 'add', '-A');
    gitIn(repo, 'commit', '-q', '-m', 'symlink');
    await expect(archiveLegacyScripts({ ...input(repo), scripts: ['scripts/escape/hostname'] })).rejects.toMatchObject({
      type: 'InvalidInput',
      message: expect.stringContaining('resolves outside'),
    });
    expect(gitIn(repo, 'rev-list', '--count', 'HEAD').trim()).toBe('2');
    expect(fs.existsSync(path.join(repo, 'scripts/archive'))).toBe(false);
  });

  it('works off the checkout: a worktree left by a killed attempt does not block the retry', async () => {
    const repo = makeRepo();
    const stale = tempDir('mo-stale-wt');
    gitIn(repo, 'worktree', 'add', '-q', '--detach', stale, 'HEAD');
    fs.rmSync(stale, { recursive: true, force: true });
    const res = await archiveLegacyScripts(input(repo));
    expect(res.alreadyDone).toBe(false);
    expect(gitIn(repo, 'worktree', 'list').trim().split('\n')).toHaveLength(1);
    expect(gitIn(repo, 'status', '--porcelain')).toBe('');
  });
});

/** A billing repository as its owners keep it: an invoicer script, a doc naming it, one commit. */
function billingRepo(): string {
  const repo = tempDir('mo-billing');
  fs.mkdirSync(path.join(repo, 'scripts'));
  fs.mkdirSync(path.join(repo, 'docs'));
  fs.writeFileSync(path.join(repo, 'scripts/legacy_invoicer.sh'), '#!/bin/sh\npsql -c "select invoice()"\n');
  fs.writeFileSync(path.join(repo, 'scripts/v2_exporter.sh'), '#!/bin/sh\necho export\n');
  fs.writeFileSync(
    path.join(repo, 'docs/billing.md'),
    '# Billing\n\nOrders are invoiced every two minutes by `scripts/legacy_invoicer.sh`.\n',
  );
  gitIn(repo, 'init', '-q', '-b', 'main');
  gitIn(repo, 'config', 'user.name', 'Billing Team');
  gitIn(repo, 'config', 'user.email', 'billing@example.com');
  gitIn(repo, 'add', '-A');
  gitIn(repo, 'commit', '-q', '-m', 'Billing scripts');
  return repo;
}

/** A commit made by hand, dated `at` (so it can predate the run under test). */
function commitAt(repo: string, at: string, message: string, ...args: string[]): void {
  execFileSync('git', ['commit', '-q', ...args, '-m', message], {
    cwd: repo,
    env: { ...process.env, GIT_AUTHOR_DATE: at, GIT_COMMITTER_DATE: at },
  });
}

const STARTED = '2026-11-18T09:00:00.000Z';
const billing = (repository: string, migrationId = 'orders', startedAt: string | null = STARTED) => ({
  migrationId,
  repository,
  scripts: ['scripts/legacy_invoicer.sh'],
  docs: ['docs/billing.md'],
  date: '20261125',
  reason: 'Replaced by the unified pipeline',
  replacement: 'unified-scorer (registry.local/unified-scorer:1.4)',
  replacementName: 'unified-scorer',
  ...(startedAt ? { startedAt } : {}),
  rollbackProcedure: 'migrate rollback orders',
});
const commits = (repo: string) => Number(gitIn(repo, 'rev-list', '--count', 'HEAD').trim());
const trailers = (repo: string, rev = 'HEAD') =>
  gitIn(repo, 'log', '-1', '--format=%(trailers:only,unfold)', rev).trim().split('\n');

describe('archive: what the docs say, and which commit is this run', () => {
  it('a doc that named the script names the replacement and the archive README afterwards', async () => {
    const repo = billingRepo();
    const res = await archiveLegacyScripts(billing(repo));
    expect(res).toMatchObject({ alreadyDone: false, docsUpdated: ['docs/billing.md'] });
    const readme = 'scripts/archive/monoliths_20261125/README.md';
    expect(fs.readFileSync(path.join(repo, 'docs/billing.md'), 'utf8')).toBe(
      [
        '# Billing',
        '',
        `Orders are invoiced every two minutes by \`unified-scorer\` (the unified pipeline; the retired \`scripts/legacy_invoicer.sh\` is archived, see \`${readme}\`).`,
        '',
        `> Note: the legacy scripts this page referred to were retired on 2026-11-25 by migration \`orders\`; \`unified-scorer\` does their work now. What was archived where, and how to roll back: \`${readme}\`.`,
        '',
      ].join('\n'),
    );
    // The README still says what was moved where, and the archived copy is there.
    expect(fs.readFileSync(path.join(repo, readme), 'utf8')).toContain(
      '| `scripts/legacy_invoicer.sh` | `scripts/archive/monoliths_20261125/legacy_invoicer.sh` | 2 |',
    );
    expect(gitIn(repo, 'show', 'HEAD:scripts/archive/monoliths_20261125/legacy_invoicer.sh')).toContain('invoice()');
    expect(trailers(repo)).toEqual(['Migration-Id: orders', `Migration-Started-At: ${STARTED}`]);
  });

  it('without a replacement name, the docs name the replacement as given', async () => {
    const repo = billingRepo();
    const { replacementName: _unused, ...input } = billing(repo);
    await archiveLegacyScripts(input);
    expect(fs.readFileSync(path.join(repo, 'docs/billing.md'), 'utf8')).toContain(
      'by `unified-scorer (registry.local/unified-scorer:1.4)` (the unified pipeline; the retired `scripts/legacy_invoicer.sh` is archived',
    );
  });

  it('an archive commit of orders-v2 is not the archive of orders', async () => {
    const repo = billingRepo();
    fs.mkdirSync(path.join(repo, 'scripts/archive/monoliths_20261120'), { recursive: true });
    gitIn(repo, 'mv', 'scripts/v2_exporter.sh', 'scripts/archive/monoliths_20261120/v2_exporter.sh');
    gitIn(repo, 'commit', '-q', '-m', 'Archive the v2 exporter\n\nMigration-Id: orders-v2');
    const v2 = gitIn(repo, 'rev-parse', 'HEAD').trim();

    expect(await restoreArchivedScripts({ migrationId: 'orders', repository: repo })).toEqual({
      commit: null,
      alreadyDone: true,
    });
    const res = await archiveLegacyScripts(billing(repo, 'orders', null));
    expect(res.alreadyDone).toBe(false);
    expect(res.commit).not.toBe(v2);
    expect(commits(repo)).toBe(3);
    expect(trailers(repo)).toEqual(['Migration-Id: orders']);
    expect(fs.existsSync(path.join(repo, 'scripts/legacy_invoicer.sh'))).toBe(false);

    // And the other way round: orders-v2 still finds its own commit, not the newer one of orders.
    const again = await archiveLegacyScripts({ ...billing(repo, 'orders-v2', null), scripts: [] });
    expect(again).toMatchObject({ commit: v2, alreadyDone: true });
    expect(commits(repo)).toBe(3);
  });

  it('a retry of the same run finds its commit and changes nothing', async () => {
    const repo = billingRepo();
    const first = await archiveLegacyScripts(billing(repo));
    const doc = fs.readFileSync(path.join(repo, 'docs/billing.md'), 'utf8');
    const retry = await archiveLegacyScripts(billing(repo));
    expect(retry).toMatchObject({ commit: first.commit, alreadyDone: true, docsUpdated: ['docs/billing.md'] });
    expect(retry.moved).toEqual(first.moved);
    expect(commits(repo)).toBe(2);
    expect(fs.readFileSync(path.join(repo, 'docs/billing.md'), 'utf8')).toBe(doc);
    expect(doc.match(/the retired/g)).toHaveLength(1);
  });

  it('a reused migration ID: the earlier run, archived and reverted, is not taken as this run', async () => {
    const repo = billingRepo();
    // The earlier run, by hand as its commits read: archive (no run trailer), then its revert.
    const earlier = 'scripts/archive/monoliths_20261101';
    fs.mkdirSync(path.join(repo, earlier), { recursive: true });
    gitIn(repo, 'mv', 'scripts/legacy_invoicer.sh', `${earlier}/legacy_invoicer.sh`);
    commitAt(repo, '2026-11-01T10:00:00Z', 'Archive legacy monoliths\n\nMigration-Id: orders');
    const old = gitIn(repo, 'rev-parse', 'HEAD').trim();
    gitIn(repo, 'revert', '--no-commit', old);
    commitAt(
      repo,
      '2026-11-02T10:00:00Z',
      `Revert the archive\n\nThis reverts commit ${old}.\n\nMigration-Id-Revert: orders`,
    );
    expect(fs.existsSync(path.join(repo, 'scripts/legacy_invoicer.sh'))).toBe(true);

    const res = await archiveLegacyScripts(billing(repo));
    expect(res.alreadyDone).toBe(false);
    expect(res.commit).not.toBe(old);
    expect(commits(repo)).toBe(4);
    expect(trailers(repo)).toEqual(['Migration-Id: orders', `Migration-Started-At: ${STARTED}`]);
    expect(fs.existsSync(path.join(repo, 'scripts/archive/monoliths_20261125/legacy_invoicer.sh'))).toBe(true);

    // Its undo reverts this run's commit, though the earlier run's revert carries the same migration ID.
    const restored = await restoreArchivedScripts({ migrationId: 'orders', repository: repo, startedAt: STARTED });
    expect(restored.alreadyDone).toBe(false);
    expect(gitIn(repo, 'log', '-1', '--format=%B')).toContain(`This reverts commit ${res.commit}`);
    expect(fs.existsSync(path.join(repo, 'scripts/legacy_invoicer.sh'))).toBe(true);
    expect(fs.readFileSync(path.join(repo, 'docs/billing.md'), 'utf8')).toContain('by `scripts/legacy_invoicer.sh`.');
    expect(await restoreArchivedScripts({ migrationId: 'orders', repository: repo, startedAt: STARTED })).toEqual({
      commit: restored.commit,
      alreadyDone: true,
    });
    expect(commits(repo)).toBe(5);
  });

  it("an attempt's commit without the run trailer, made after the run started, is this run's", async () => {
    const repo = billingRepo();
    fs.mkdirSync(path.join(repo, 'scripts/archive/monoliths_20261125'), { recursive: true });
    gitIn(repo, 'mv', 'scripts/legacy_invoicer.sh', 'scripts/archive/monoliths_20261125/legacy_invoicer.sh');
    commitAt(repo, '2026-11-25T08:00:00Z', 'Archive legacy monoliths\n\nMigration-Id: orders');
    const made = gitIn(repo, 'rev-parse', 'HEAD').trim();
    expect(await archiveLegacyScripts(billing(repo))).toMatchObject({ commit: made, alreadyDone: true });
    expect(commits(repo)).toBe(2);
  });
});
