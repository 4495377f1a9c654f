import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that a reader (or a crash, or Ctrl-C) sees either the old file or the
 * complete new one, never a prefix: the bytes go to a hidden temporary file in the same
 * directory (so the rename stays on one filesystem, where it is atomic), are flushed to
 * disk (fsync), and only then renamed over the target. The temporary file is removed if
 * anything fails. Used for models (saveModel) and for the CLI's reports.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const directory = dirname(path);
  // hidden, unique and never an existing file ('wx')
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let published = false;
  try {
    const handle = await open(temporary, 'wx');
    try {
      let written = 0;
      while (written < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.byteLength - written);
        written += bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
    published = true;
    await syncDirectory(directory);
  } finally {
    if (!published) await rm(temporary, { force: true });
  }
}

/** Makes the rename itself durable. Not every platform can open a directory (Windows cannot): best effort. */
async function syncDirectory(directory: string): Promise<void> {
  let handle;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch {
    // the data is already on disk; only the directory entry's durability is at stake
  } finally {
    await handle?.close();
  }
}
