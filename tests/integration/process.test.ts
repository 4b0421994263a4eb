import fs from 'node:fs';
import path from 'node:path';
import { runBounded, runCommand } from '../../activities/process';
import { processEndsWithin, tempDir } from '../helpers/stack';

const MiB = 1 << 20;

describe('runCommand and runBounded on real processes', () => {
  it('keeps 1 MiB of a 50 MiB stream, its head and its tail, and says how many bytes it dropped', async () => {
    const r = await runCommand('sh', ['-c', `printf START; head -c ${50 * MiB} /dev/zero | tr '\\0' a; printf END`]);
    expect(r.code).toBe(0);
    const total = 'START'.length + 50 * MiB + 'END'.length;
    expect(r.dropped).toEqual({ stdout: total - MiB, stderr: 0 });
    expect(r.stdout.startsWith('STARTaaa')).toBe(true);
    expect(r.stdout.endsWith('aaaEND')).toBe(true);
    expect(r.stdout).toContain(`\n[output truncated: ${total - MiB} bytes dropped]\n`);
    expect(Buffer.byteLength(r.stdout)).toBeLessThan(MiB + 100);
  });

  it('keeps the whole output when the caller asks for it (maxOutputBytes: Infinity)', async () => {
    const r = await runCommand('sh', ['-c', `head -c ${3 * MiB} /dev/zero | tr '\\0' a`], {
      maxOutputBytes: Infinity,
    });
    expect(r.dropped.stdout).toBe(0);
    expect(r.stdout).toBe('a'.repeat(3 * MiB));
  });

  it('cuts a multi-byte stream only between characters, and counts every byte it dropped', async () => {
    const r = await runBounded('node', ['-e', `process.stdout.write('€'.repeat(${MiB}))`], {
      timeoutMs: 30_000,
      maxOutputBytes: 1001,
    });
    const m = /^(€*)\n\[output truncated: (\d+) bytes dropped\]\n(€*)$/.exec(r.stdout);
    expect(m).not.toBeNull();
    const [, head, dropped, tail] = m!;
    expect(Number(dropped)).toBe(r.dropped.stdout);
    expect(Buffer.byteLength(head! + tail!) + r.dropped.stdout).toBe(3 * MiB);
    expect(Buffer.byteLength(head! + tail!)).toBeGreaterThan(990);
  });

  it.each([
    ['runCommand', (script: string) => runCommand('sh', ['-c', script, 'sh'], { timeoutMs: 500 })],
    ['runBounded', (script: string) => runBounded('sh', ['-c', script, 'sh'], { timeoutMs: 500 })],
  ])(
    '%s kills the whole process group on time-out: a background grandchild dies with the script',
    async (_name, run) => {
      const dir = tempDir('mo-process');
      const pidFile = path.join(dir, 'grandchild.pid');
      let grandchild = 0;
      try {
        const started = Date.now();
        const r = await run(`sleep 300 & echo $! > '${pidFile}'; wait`);
        expect(r.signal).toBe('SIGKILL');
        expect(Date.now() - started).toBeLessThan(10_000);
        grandchild = Number(fs.readFileSync(pidFile, 'utf8').trim());
        expect(grandchild).toBeGreaterThan(0);
        // Killed, it may stay a zombie until init reaps it: gone or a zombie, either way it no longer runs.
        expect(await processEndsWithin(grandchild)).toBe(true);
      } finally {
        try {
          if (grandchild) process.kill(grandchild, 'SIGKILL');
        } catch {
          // Already gone.
        }
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    20_000,
  );

  // Each character is written in two parts, split at every byte offset, with a pause between the parts, so that the
  // reader gets them as separate chunks.
  const SPLIT_WRITER = `
    const text = Buffer.from('é€…');
    const write = (stream, part) => new Promise((resolve) => stream.write(part, resolve));
    (async () => {
      for (let k = 1; k < text.length; k++) {
        for (const part of [text.subarray(0, k), text.subarray(k)]) {
          await Promise.all([write(process.stdout, part), write(process.stderr, part)]);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })();
  `;
  const expected = 'é€…'.repeat(Buffer.byteLength('é€…') - 1);

  it('runCommand decodes characters split across chunks exactly', async () => {
    const r = await runCommand('node', ['-e', SPLIT_WRITER]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expected);
    expect(r.stderr).toBe(expected);
  });

  it('runBounded decodes characters split across chunks exactly', async () => {
    const r = await runBounded('node', ['-e', SPLIT_WRITER], { timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expected);
    expect(r.stderr).toBe(expected);
  });
});
