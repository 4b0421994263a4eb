import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/** The mode of every file we write on the target: dumps hold production data, crontab saves environment secrets. */
export const PRIVATE_FILE_MODE = 0o600;

/** The mode of the folders we create: only the worker's user lists or enters them. */
export const PRIVATE_FOLDER_MODE = 0o700;

/**
 * Creates `dir` and its missing parents 0700. The umask can only take bits away, so no umask loosens it; folders that
 * already exist are someone's choice and keep their mode.
 */
export async function makePrivateFolder(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: PRIVATE_FOLDER_MODE });
}

const scratchPrefix = (file: string) => `.${path.basename(file)}.tmp-`;

/**
 * Makes `file` with `produce`, which writes the path it is given (a program may write it: `pg_dump --file`), and puts
 * it in place 0600. How no write follows a symlink: the path given lives in a fresh 0700 folder of its own next to
 * `file` (`mkdtemp`, so nobody else can plant anything in it), and the result is renamed over `file`, which replaces a
 * symlink there instead of writing through it. With `keepExisting`, a regular file already at `file` is kept (and
 * false returned): anything else there (a symlink) is replaced.
 */
export async function produceFileSafely<T>(
  file: string,
  produce: (tmp: string) => Promise<T>,
  opts: { keepExisting?: boolean } = {},
): Promise<{ result: T; written: boolean }> {
  const scratch = await fs.mkdtemp(path.join(path.dirname(file), scratchPrefix(file)));
  try {
    const tmp = path.join(scratch, path.basename(file));
    const result = await produce(tmp);
    // The producer's umask is not ours to trust (`pg_dump` creates its file 0666 & ~umask).
    await fs.chmod(tmp, PRIVATE_FILE_MODE);
    if (opts.keepExisting) {
      // link() never replaces and never follows a symlink at `file`: the first version wins atomically.
      const linked = await fs.link(tmp, file).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
          return false;
        },
      );
      if (linked) return { result, written: true };
      if ((await fs.lstat(file)).isFile()) return { result, written: false };
    }
    await fs.rename(tmp, file);
    return { result, written: true };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Writes `data` to `file` whole, 0600, never through a symlink (`produceFileSafely`); false when a kept file was there. */
export async function writeFileSafely(
  file: string,
  data: string | Uint8Array,
  opts: { keepExisting?: boolean } = {},
): Promise<boolean> {
  const { written } = await produceFileSafely(
    file,
    async (tmp) => {
      const handle = await fs.open(tmp, 'wx', PRIVATE_FILE_MODE);
      try {
        await handle.writeFile(data);
        // On disk before the rename makes it visible: a crash leaves the old file or the new, never an empty one.
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
    opts,
  );
  return written;
}

/** What writes of `file` left behind when their worker died (the folders `produceFileSafely` works in). */
export async function removeLeftovers(file: string): Promise<void> {
  const prefix = scratchPrefix(file);
  const names = await fs.readdir(path.dirname(file)).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(prefix)))
    await fs.rm(path.join(path.dirname(file), name), { recursive: true, force: true });
}

/** The text of `file` if it is a regular file; a symlink there is not ours and reads as absent. */
export async function readOwnFile(file: string): Promise<string | undefined> {
  try {
    const handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    try {
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}
