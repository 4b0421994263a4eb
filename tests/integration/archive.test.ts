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
    expect(fs.readFileSync(path.join(repo, 'docs/operations.md'), 'utf8')).toContain(
      '`scripts/archive/monoliths_20261125/legacy_batch.py` hourly',
    );
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
