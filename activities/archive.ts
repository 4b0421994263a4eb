import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ErrorType, permanent } from './errors';
import { runCommand } from './process';

/** What the archive step did. */
export interface ArchiveResult {
  commit: string;
  archiveDir: string;
  moved: { from: string; to: string; lines: number }[];
  docsUpdated: string[];
  alreadyDone: boolean;
}

const TRAILER = 'Migration-Id';
const REVERT_TRAILER = 'Migration-Id-Revert';
const AUTHOR = { name: 'migration-orchestrator', email: 'migration-orchestrator@localhost' };

async function git(repo: string, ...args: string[]): Promise<string> {
  const r = await runCommand('git', ['-C', repo, ...args]);
  if (r.code !== 0) throw new Error(`git ${args[0]} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The newest commit on HEAD that carries `<trailer>: <migrationId>`, if any. */
async function commitWithTrailer(repo: string, trailer: string, migrationId: string): Promise<string | undefined> {
  const out = await git(repo, 'log', '--format=%H', '-F', `--grep=${trailer}: ${migrationId}`);
  return out.split('\n').find(Boolean);
}

/** Resolves a repository-relative path, refusing anything that escapes the repository (also through symlinks). */
async function inside(repo: string, rel: string, field: string): Promise<string> {
  const real = await fs.realpath(repo);
  if (path.isAbsolute(rel) || path.normalize(rel).split(path.sep).includes('..')) {
    throw permanent(ErrorType.InvalidInput, `${field} ${JSON.stringify(rel)} is outside the repository`);
  }
  const abs = path.join(real, rel);
  const resolved = await fs.realpath(abs).catch(() => {
    throw permanent(ErrorType.PreconditionFailed, `${field} ${JSON.stringify(rel)} does not exist in ${repo}`);
  });
  if (resolved !== real && !resolved.startsWith(real + path.sep)) {
    throw permanent(ErrorType.InvalidInput, `${field} ${JSON.stringify(rel)} resolves outside the repository`);
  }
  return abs;
}

async function ensureClean(repo: string): Promise<void> {
  const status = await git(repo, 'status', '--porcelain', '--untracked-files=all');
  if (status.trim()) {
    throw permanent(
      ErrorType.RepositoryDirty,
      `repository ${repo} has uncommitted changes; commit or stash them first:\n${status.trim().split('\n').slice(0, 10).join('\n')}`,
    );
  }
}

/**
 * Makes a commit in a throw-away worktree of HEAD, then fast-forwards the repository to it. A worker killed half-way
 * leaves the repository untouched (only a stale worktree, pruned on the next attempt), so a retry starts clean.
 */
async function commitOffTree(repo: string, work: (wt: string) => Promise<void>): Promise<string> {
  await git(repo, 'worktree', 'prune');
  const wt = await fs.mkdtemp(path.join(os.tmpdir(), 'mo-archive-'));
  await git(repo, 'worktree', 'add', '-q', '--detach', wt, 'HEAD');
  try {
    await work(wt);
    const sha = (await git(wt, 'rev-parse', 'HEAD')).trim();
    await git(repo, 'merge', '-q', '--ff-only', sha);
    return sha;
  } finally {
    await git(repo, 'worktree', 'remove', '--force', wt).catch(() => fs.rm(wt, { recursive: true, force: true }));
  }
}

const authorArgs = (a: { name: string; email: string }) => ['-c', `user.name=${a.name}`, '-c', `user.email=${a.email}`];

/** What the archive step is asked to do. */
export interface ArchiveInput {
  migrationId: string;
  repository: string;
  scripts: string[];
  docs: string[];
  date: string;
  reason: string;
  replacement: string;
  rollbackProcedure: string;
  author?: { name: string; email: string };
}

/**
 * Moves the legacy scripts into `scripts/archive/monoliths_<date>/` with a README (what, why, the original files and
 * their line counts, the replacement, the rollback procedure), points the docs at the new paths, and commits with a
 * `Migration-Id` trailer. A commit with that trailer already on HEAD means it is done: nothing is committed twice.
 */
export async function archiveLegacyScripts(input: ArchiveInput): Promise<ArchiveResult> {
  const repo = input.repository;
  if (!/^\d{8}$/.test(input.date)) throw permanent(ErrorType.InvalidInput, `date must be YYYYMMDD, got ${input.date}`);
  const archiveDir = path.posix.join('scripts', 'archive', `monoliths_${input.date}`);
  const done = await commitWithTrailer(repo, TRAILER, input.migrationId);
  if (done) {
    const { moved, docs } = await archivedBy(repo, done, input.scripts);
    return { commit: done, archiveDir, moved, docsUpdated: docs, alreadyDone: true };
  }
  // Refuse before changing anything: every path inside the repository, the repository clean.
  const scripts = await insideAll(repo, input.scripts, 'scripts');
  const docs = await insideAll(repo, input.docs, 'docs');
  await ensureClean(repo);

  let moved: ArchiveResult['moved'] = [];
  let docsUpdated: string[] = [];
  const commit = await commitOffTree(repo, async (wt) => {
    moved = await moveScripts(wt, scripts, archiveDir);
    await writeReadme(wt, archiveDir, archiveReadme(input, moved));
    docsUpdated = await pointDocsAtArchive(wt, docs, moved, archiveDir, input);
    const message = archiveMessage(input, archiveDir, moved, docsUpdated);
    await git(wt, ...authorArgs(input.author ?? AUTHOR), 'commit', '-q', '-m', message);
  });
  return { commit, archiveDir, moved, docsUpdated, alreadyDone: false };
}

/**
 * What an earlier attempt's archive commit did, read back from it: the renames (in the order of `scripts`, with the
 * archived files' line counts) and the docs it modified.
 */
async function archivedBy(
  repo: string,
  done: string,
  scripts: string[],
): Promise<{ moved: ArchiveResult['moved']; docs: string[] }> {
  const files = (await git(repo, 'show', '--name-status', '--format=', '-M', done)).trim().split('\n');
  const moved = files
    .map((l) => l.split('\t'))
    .filter((p) => p[0]?.startsWith('R'))
    .map((p) => ({ from: p[1]!, to: p[2]!, lines: 0 }));
  for (const m of moved)
    m.lines = (await git(repo, 'show', `${done}:${m.to}`))
      .split('\n')
      .filter((l, i, a) => l !== '' || i < a.length - 1).length;
  const order = (m: { from: string }) => scripts.map((x) => path.normalize(x)).indexOf(m.from);
  moved.sort((a, b) => order(a) - order(b));
  const docs = files
    .map((l) => l.split('\t'))
    .filter((p) => p[0] === 'M')
    .map((p) => p[1]!);
  return { moved, docs };
}

/** `inside` for each path of a list (`<field>[<i>]` in the messages), normalized. */
function insideAll(repo: string, rels: string[], field: string): Promise<string[]> {
  return Promise.all(rels.map((r, i) => inside(repo, r, `${field}[${i}]`).then(() => path.normalize(r))));
}

/** `git mv`s each script into the archive folder of the worktree, counting its lines. */
async function moveScripts(wt: string, scripts: string[], archiveDir: string): Promise<ArchiveResult['moved']> {
  const moved: ArchiveResult['moved'] = [];
  const names = new Set<string>();
  for (const from of scripts) {
    const text = await fs.readFile(path.join(wt, from), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    // Keep the file name; when two scripts share one, keep their relative folders.
    const to = names.has(path.basename(from))
      ? path.posix.join(archiveDir, from)
      : path.posix.join(archiveDir, path.basename(from));
    names.add(path.basename(from));
    await fs.mkdir(path.join(wt, path.dirname(to)), { recursive: true });
    await git(wt, 'mv', from, to);
    moved.push({ from, to, lines });
  }
  return moved;
}

/** The archive folder's README: what, when, why, the original files and their line counts, how to roll back. */
function archiveReadme(input: ArchiveInput, moved: ArchiveResult['moved']): string {
  return [
    `# Archived legacy monoliths (${input.date.slice(0, 4)}-${input.date.slice(4, 6)}-${input.date.slice(6)})`,
    '',
    `Archived by migration \`${input.migrationId}\` on ${new Date().toISOString()}.`,
    '',
    `**Why:** ${input.reason}`,
    '',
    `**Replaced by:** ${input.replacement}`,
    '',
    '## Original files',
    '',
    '| Original path | Archived as | Lines |',
    '|---|---|---|',
    ...moved.map((m) => `| \`${m.from}\` | \`${m.to}\` | ${m.lines} |`),
    `| **Total** | | **${moved.reduce((a, m) => a + m.lines, 0)}** |`,
    '',
    '## Rollback procedure',
    '',
    input.rollbackProcedure,
    '',
    'To restore only these files by hand:',
    '',
    '```sh',
    `git revert <the commit that added this README>   # its message ends with "${TRAILER}: ${input.migrationId}"`,
    ...moved.map((m) => `# or: git mv ${m.to} ${m.from}`),
    '```',
    '',
  ].join('\n');
}

async function writeReadme(wt: string, archiveDir: string, readme: string): Promise<void> {
  await fs.writeFile(path.join(wt, archiveDir, 'README.md'), readme);
  await git(wt, 'add', path.posix.join(archiveDir, 'README.md'));
}

/** Rewrites the docs' references to the moved scripts, with a note; returns the docs that changed. */
async function pointDocsAtArchive(
  wt: string,
  docs: string[],
  moved: ArchiveResult['moved'],
  archiveDir: string,
  input: Pick<ArchiveInput, 'date' | 'migrationId'>,
): Promise<string[]> {
  const docsUpdated: string[] = [];
  for (const doc of docs) {
    const file = path.join(wt, doc);
    const before = await fs.readFile(file, 'utf8');
    let after = moved.reduce((t, m) => t.split(m.from).join(m.to), before);
    if (after !== before) {
      after += `\n> Note: the legacy scripts above were archived on ${input.date} by migration ${input.migrationId}; see \`${archiveDir}/README.md\`.\n`;
      await fs.writeFile(file, after);
      await git(wt, 'add', doc);
      docsUpdated.push(doc);
    }
  }
  return docsUpdated;
}

/** The archive commit's message, ending with the `Migration-Id` trailer that makes a retry find it. */
function archiveMessage(
  input: Pick<ArchiveInput, 'reason' | 'replacement' | 'migrationId'>,
  archiveDir: string,
  moved: ArchiveResult['moved'],
  docsUpdated: string[],
): string {
  return [
    `Archive legacy monoliths into ${archiveDir}`,
    '',
    `${input.reason}. Replaced by ${input.replacement}.`,
    '',
    ...moved.map((m) => `- ${m.from} -> ${m.to} (${m.lines} lines)`),
    ...(docsUpdated.length ? ['', `References updated in: ${docsUpdated.join(', ')}`] : []),
    '',
    `${TRAILER}: ${input.migrationId}`,
  ].join('\n');
}

/** The undo of the archive: reverts its commit (once); nothing to do when there is no archive commit. */
export async function restoreArchivedScripts(input: {
  migrationId: string;
  repository: string;
  author?: { name: string; email: string };
}): Promise<{ commit: string | null; alreadyDone: boolean }> {
  const repo = input.repository;
  const reverted = await commitWithTrailer(repo, REVERT_TRAILER, input.migrationId);
  if (reverted) return { commit: reverted, alreadyDone: true };
  const archived = await commitWithTrailer(repo, TRAILER, input.migrationId);
  if (!archived) return { commit: null, alreadyDone: true };
  await ensureClean(repo);
  const commit = await commitOffTree(repo, async (wt) => {
    await git(wt, ...authorArgs(input.author ?? AUTHOR), 'revert', '--no-edit', archived);
    const subject = (await git(wt, 'log', '-1', '--format=%B')).trim();
    await git(
      wt,
      ...authorArgs(input.author ?? AUTHOR),
      'commit',
      '--amend',
      '-q',
      '-m',
      `${subject}\n\n${REVERT_TRAILER}: ${input.migrationId}`,
    );
  });
  return { commit, alreadyDone: false };
}
