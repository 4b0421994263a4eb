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
/** Tells this run's archive commit from an earlier run's with the same migration ID. */
const RUN_TRAILER = 'Migration-Started-At';
const REVERT_TRAILER = 'Migration-Id-Revert';
const AUTHOR = { name: 'migration-orchestrator', email: 'migration-orchestrator@localhost' };

async function git(repo: string, ...args: string[]): Promise<string> {
  // Whole: git's output is parsed (trailers, names) or counted (an archived script's lines), never shown.
  const r = await runCommand('git', ['-C', repo, ...args], { maxOutputBytes: Infinity });
  if (r.code !== 0) throw new Error(`git ${args[0]} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** A commit and the trailers of its message (keys lower-cased, values as written). */
interface TrailedCommit {
  sha: string;
  committedAt: number;
  trailers: Map<string, string[]>;
}

/**
 * The commits of `range` (newest first) that carry the trailer `<key>: <value>` exactly. `--grep` only narrows the
 * candidates: it matches substrings (`orders` would find `orders-v2`), so each candidate's trailers, as git parses
 * them, are compared whole.
 */
async function commitsWithTrailer(repo: string, key: string, value: string, range = 'HEAD'): Promise<TrailedCommit[]> {
  const out = await git(
    repo,
    'log',
    '--fixed-strings',
    `--grep=${key}: ${value}`,
    '--format=%H%x1f%ct%x1f%(trailers:only,unfold)%x1e',
    range,
    '--',
  );
  const commits = out
    .split('\x1e')
    .map((r) => r.trim())
    .filter(Boolean)
    .map((record) => {
      const [sha = '', committed = '0', block = ''] = record.split('\x1f');
      const trailers = new Map<string, string[]>();
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const k = line.slice(0, colon).trim().toLowerCase();
        trailers.set(k, [...(trailers.get(k) ?? []), line.slice(colon + 1).trim()]);
      }
      return { sha, committedAt: Number(committed) * 1000, trailers };
    });
  return commits.filter((c) => c.trailers.get(key.toLowerCase())?.includes(value));
}

/**
 * This run's archive commit on HEAD, if an earlier attempt made it. Without `startedAt` any archive commit of the
 * migration is taken (what callers that predate the run trailer expect). With it, a commit must carry the same
 * `Migration-Started-At`; one with no run trailer at all counts only if it was made after the run started (an
 * attempt on a worker that predates the trailer), so an earlier run's commit under a reused ID never does.
 */
async function archiveCommitOf(repo: string, migrationId: string, startedAt?: string): Promise<string | undefined> {
  const commits = await commitsWithTrailer(repo, TRAILER, migrationId);
  if (startedAt === undefined) return commits[0]?.sha;
  const since = Math.floor(Date.parse(startedAt) / 1000) * 1000;
  return commits.find((c) => {
    const runs = c.trailers.get(RUN_TRAILER.toLowerCase());
    return runs ? runs.includes(startedAt) : c.committedAt >= since;
  })?.sha;
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
  /** What replaces the scripts, as the README and the commit message say it (e.g. the unified job and its images). */
  replacement: string;
  /** The replacement's short name, which the docs name where they referred to a script; default `replacement`. */
  replacementName?: string;
  /**
   * When this run of the migration started (ISO 8601, the status's `startedAt`): written as a trailer, so a retry
   * finds this run's commit and not the commit of an earlier run with the same migration ID.
   */
  startedAt?: string;
  rollbackProcedure: string;
  author?: { name: string; email: string };
}

/**
 * Moves the legacy scripts into `scripts/archive/monoliths_<date>/` with a README (what, why, the original files and
 * their line counts, the replacement, the rollback procedure), makes the docs name the replacement where they named
 * a script, and commits with a `Migration-Id` trailer (and `Migration-Started-At`, given `startedAt`). This run's
 * commit already on HEAD means it is done: nothing is committed twice.
 */
export async function archiveLegacyScripts(input: ArchiveInput): Promise<ArchiveResult> {
  const repo = input.repository;
  if (!/^\d{8}$/.test(input.date)) throw permanent(ErrorType.InvalidInput, `date must be YYYYMMDD, got ${input.date}`);
  checkStartedAt(input.startedAt);
  const archiveDir = path.posix.join('scripts', 'archive', `monoliths_${input.date}`);
  const done = await archiveCommitOf(repo, input.migrationId, input.startedAt);
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
    docsUpdated = await pointDocsAtReplacement(wt, docs, moved, archiveDir, input);
    const message = archiveMessage(input, archiveDir, moved, docsUpdated);
    await git(wt, ...authorArgs(input.author ?? AUTHOR), 'commit', '-q', '-m', message);
  });
  return { commit, archiveDir, moved, docsUpdated, alreadyDone: false };
}

function checkStartedAt(startedAt: string | undefined): void {
  if (startedAt !== undefined && (!/^\S+$/.test(startedAt) || Number.isNaN(Date.parse(startedAt))))
    throw permanent(ErrorType.InvalidInput, `startedAt must be an ISO 8601 time, got ${JSON.stringify(startedAt)}`);
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
    `git revert <the commit that added this README>   # its message has the trailer "${TRAILER}: ${input.migrationId}"`,
    ...moved.map((m) => `# or: git mv ${m.to} ${m.from}`),
    '```',
    '',
  ].join('\n');
}

async function writeReadme(wt: string, archiveDir: string, readme: string): Promise<void> {
  await fs.writeFile(path.join(wt, archiveDir, 'README.md'), readme);
  await git(wt, 'add', path.posix.join(archiveDir, 'README.md'));
}

/** Makes each doc name the replacement where it referred to a moved script; returns the docs that changed. */
async function pointDocsAtReplacement(
  wt: string,
  docs: string[],
  moved: ArchiveResult['moved'],
  archiveDir: string,
  input: Pick<ArchiveInput, 'date' | 'migrationId' | 'replacement' | 'replacementName'>,
): Promise<string[]> {
  const docsUpdated: string[] = [];
  const retired = { replacement: input.replacementName ?? input.replacement, readme: `${archiveDir}/README.md` };
  const note =
    `> Note: the legacy scripts this page referred to were retired on ${isoDate(input.date)} by migration ` +
    `\`${input.migrationId}\`; \`${retired.replacement}\` does their work now. What was archived where, and how to ` +
    `roll back: \`${retired.readme}\`.`;
  for (const doc of docs) {
    const file = path.join(wt, doc);
    const before = await fs.readFile(file, 'utf8');
    const { text, referred } = retireReferences(before, moved, retired);
    const after = referred && !text.includes(note) ? `${text.replace(/\n*$/, '\n')}\n${note}\n` : text;
    if (after !== before) {
      await fs.writeFile(file, after);
      await git(wt, 'add', doc);
      docsUpdated.push(doc);
    }
  }
  return docsUpdated;
}

const isoDate = (d: string) => `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}`;

/** The wording a retired reference becomes; recognised again (`RETIRED_PHRASE`), so a second pass changes nothing. */
const retiredPhrase = (replacement: string, old: string, readme: string) =>
  `\`${replacement}\` (the unified pipeline; the retired ${old} is archived, see \`${readme}\`)`;
const RETIRED_PHRASE =
  /\(the unified pipeline; the retired (?:`[^`\n]+`|!?\[[^\]\n]*\]\([^)\n]*\)) is archived, see `[^`\n]+`\)/.source;
const CODE_SPAN = /(?<!`)(?<ticks>`+)(?!`)[^\n]*?[^`\n]\k<ticks>(?!`)/.source;
const LINK = /(?<label>!?\[[^\]\n]*\])\((?<target>[^)\n]*)\)/.source;
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * Rewrites a Markdown text's references to moved scripts (a path, alone or after `./`, `../` or `/`, as bare text, in
 * a code span, or as a link's target) into `retiredPhrase`: the doc names the replacement as doing the work and points
 * at the archive README for the old script, instead of claiming that the archived copy runs. A reference already
 * rewritten is left alone, so the rewrite is its own fixpoint. Fenced code blocks are left as written (a command
 * example turned into prose would be worse); a reference there still counts as `referred`, so the doc gets the note.
 */
export function retireReferences(
  text: string,
  moved: { from: string; to: string }[],
  retired: { replacement: string; readme: string },
): { text: string; referred: boolean } {
  if (!moved.length) return { text, referred: false };
  const froms = moved.map((m) => m.from).sort((a, b) => b.length - a.length);
  // Not part of a longer path or name: `scripts/x.sh` is not in `old/scripts/x.sh` nor in `scripts/x.sh.bak`.
  const ref = `(?<![\\w./-])(?<pre>(?:\\.{1,2}/)*|/)?(?<path>${froms.map(escapeRegExp).join('|')})(?![\\w/-]|\\.\\w)`;
  const token = new RegExp(`(?<kept>${RETIRED_PHRASE})|(?<span>${CODE_SPAN})|(?<link>${LINK})|${ref}`, 'g');
  const firstRef = (t: string) => new RegExp(ref).exec(t)?.groups?.path;
  const phrase = (old: string) => retiredPhrase(retired.replacement, old, retired.readme);
  type Groups = Partial<Record<'kept' | 'span' | 'link' | 'label' | 'target' | 'path', string>>;
  let referred = false;
  let fence: string | undefined;
  const lines = text.split('\n').map((line) => {
    const f = FENCE.exec(line);
    const marker = f?.[1];
    if (fence) {
      // A fence closes with the same character, at least as long, and nothing after it.
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && !f?.[2]?.trim()) fence = undefined;
      else if (firstRef(line)) referred = true;
      return line;
    }
    if (marker) {
      fence = marker;
      return line;
    }
    return line.replace(token, (...args: unknown[]) => {
      const all = args[0] as string;
      const g = args[args.length - 1] as Groups;
      if (g.kept) return all;
      if (g.link) {
        // A link keeps its label and points at the archived copy (its prefix resolves as before).
        const target = g.target ?? '';
        if (!firstRef(target)) return all;
        referred = true;
        const archived = target.replace(new RegExp(ref, 'g'), (...r: unknown[]) => {
          const rg = r[r.length - 1] as { pre?: string; path?: string };
          return `${rg.pre ?? ''}${moved.find((m) => m.from === rg.path)?.to ?? rg.path ?? ''}`;
        });
        return phrase(`${g.label ?? ''}(${archived})`);
      }
      const from = g.span ? firstRef(all) : g.path;
      if (!from) return all;
      referred = true;
      return phrase(`\`${from}\``);
    });
  });
  return { text: lines.join('\n'), referred };
}

/** The archive commit's message, ending with the trailers that make a retry of the same run find it. */
function archiveMessage(
  input: Pick<ArchiveInput, 'reason' | 'replacement' | 'migrationId' | 'startedAt'>,
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
    ...(input.startedAt ? [`${RUN_TRAILER}: ${input.startedAt}`] : []),
  ].join('\n');
}

/**
 * The undo of the archive: reverts this run's archive commit (once); nothing to do when there is none. Given
 * `startedAt`, only the commit of the run that started then counts, as for `archiveLegacyScripts`.
 */
export async function restoreArchivedScripts(input: {
  migrationId: string;
  repository: string;
  startedAt?: string;
  author?: { name: string; email: string };
}): Promise<{ commit: string | null; alreadyDone: boolean }> {
  const repo = input.repository;
  checkStartedAt(input.startedAt);
  const archived = await archiveCommitOf(repo, input.migrationId, input.startedAt);
  if (!archived) return { commit: null, alreadyDone: true };
  // Only a revert made after this archive commit undoes it: an earlier run's revert (same ID) does not.
  const [reverted] = await commitsWithTrailer(repo, REVERT_TRAILER, input.migrationId, `${archived}..HEAD`);
  if (reverted) return { commit: reverted.sha, alreadyDone: true };
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
