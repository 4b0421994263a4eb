import { execFileSync } from 'node:child_process';
import { cronLine, shellQuote } from '../../activities/crontab';
import { cronCommand } from '../../model/cron';

/** A small deterministic generator (mulberry32), so a failure names a case that reproduces. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = ['%', '%', '\\', '\\', "'", '"', ' ', '\t', '$', '`', '*', '#', ';', 'a', 'Z', '0', 'é', '(', ')'];

describe('crontab quoting: every argument comes back from cron and sh as it was', () => {
  const next = random(30);
  const args = Array.from({ length: 600 }, () =>
    Array.from({ length: Math.floor(next() * 12) }, () => ALPHABET[Math.floor(next() * ALPHABET.length)]!).join(''),
  );
  args.push('\\%', '\\\\%', '%%', '100\\%', '', 'trailing\\');

  it('cron keeps the whole command (no % ends it) and sh reads back each argument', () => {
    for (let i = 0; i < args.length; i += 60) {
      const batch = args.slice(i, i + 60);
      const field = ['printf', '%s\\0', ...batch].map(shellQuote).join(' ');
      const run = cronCommand(field);
      expect({ field, input: run.input }).toEqual({ field, input: undefined });
      const out = execFileSync('/bin/sh', ['-c', run.command], { encoding: 'utf8' });
      expect(out.split('\0').slice(0, -1)).toEqual(batch);
    }
  });

  it('refuses a line break in an argument instead of escaping it', () => {
    for (const bad of ['a\nb', 'a\rb', 'a\0b'])
      expect(() => cronLine({ name: 'j', schedule: '* * * * *', command: ['x', bad] }, 'm-1')).toThrow(
        /unified job j: refused, its crontab line would contain/,
      );
  });

  it("reads cron's escapes as cron does: \\% is %, \\\\% ends the command", () => {
    expect(cronCommand('echo 100\\% done')).toEqual({ command: 'echo 100% done' });
    expect(cronCommand('echo \\\\%rest%more')).toEqual({ command: 'echo \\\\', input: 'rest\nmore' });
    expect(cronCommand("echo 'a\\b'")).toEqual({ command: "echo 'a\\b'" });
  });
});
