import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync, closeSync, constants, existsSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync,
  statSync, unlinkSync, writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { UsageError } from './errors.js';

/**
 * `train --out DIR` as one unit: a reader sees the complete outputs of one run, never a new
 * model beside an old report.
 *
 * - Everything is written to a staging folder beside DIR (`.DIR.staging-<pid>-<random>`),
 *   each file flushed to disk, and manifest.json last: each file's size and sha256.
 * - Publishing is two renames: DIR → `.DIR.old-<pid>-<random>`, staging → DIR, then the old
 *   folder is removed. A crash between the two renames (a window of two system calls) leaves
 *   no DIR but both complete sets beside it; the next run (or evaluate/predict on DIR) rolls
 *   forward to the new one, whose manifest proves it complete.
 * - Before anything else a run takes a lock, `.DIR.lock` beside DIR, holding its pid: a second
 *   run into the same DIR exits 2 naming the first; a lock whose process is gone is taken over.
 * - Under the lock, the run removes what killed runs left: staging and old folders, hidden
 *   `*.tmp` files inside DIR.
 *
 * The folder is swapped whole, so DIR may hold only what tapegrad writes there: a DIR with
 * other files is refused up front rather than moved aside with them.
 */

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'tapegrad-outputs/1';

/** Paths whose "files" are the kernel's: writing there is never a training output and may hang. */
const SPECIAL_ROOTS = ['/proc', '/sys', '/dev'];

export interface Manifest {
  format: string;
  /** What each file holds, by name: bytes and sha256 (hex). manifest.json itself is not listed. */
  files: Record<string, { bytes: number; sha256: string }>;
  createdAt: string;
}

/** How files reach the disk; tests inject failures (a full disk) through it. */
export interface FileWriter {
  /** Writes and flushes `data` to a new file at `path`. */
  write(path: string, data: Uint8Array): void;
}

export const diskWriter: FileWriter = {
  write(path, data) {
    const fd = openSync(path, 'wx');
    try {
      let written = 0;
      while (written < data.byteLength) written += writeSync(fd, data, written, data.byteLength - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
};

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

const ERRNO_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
};

/** An error from the file system as one line naming the file and the reason, e.g. `… (ENOSPC)`. */
export function describeFsError(error: unknown): string {
  const code = errnoCode(error);
  if (code === undefined) return (error as Error)?.message ?? String(error);
  return `${ERRNO_TEXT[code] ?? (error as Error).message} (${code})`;
}

/** Refuses --out paths under /proc, /sys and /dev, following symbolic links of the part that exists. */
export function refuseSpecialPath(path: string, option = '--out'): void {
  let existing = resolve(path);
  const rest: string[] = [];
  while (!existsSync(existing) && dirname(existing) !== existing) {
    rest.unshift(basename(existing));
    existing = dirname(existing);
  }
  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    // an unreadable ancestor: judged by its name
  }
  const full = rest.length > 0 ? join(real, ...rest) : real;
  for (const root of SPECIAL_ROOTS) {
    if (full === root || full.startsWith(`${root}${sep}`) || resolve(path).startsWith(`${root}${sep}`) || resolve(path) === root) {
      throw new UsageError(`${option}: '${path}' is under ${root}, the kernel's virtual file system; give an ordinary folder`);
    }
  }
}

/**
 * Where `path` leads when its last part is a symbolic link (followed even when it dangles, as a
 * link to a folder does in the moment between publishing's two renames): a symlinked --out
 * keeps its link, and the folder it points to is what gets replaced.
 */
function followLinks(path: string): string {
  let current = path;
  for (let hop = 0; hop < 40; hop++) {
    try {
      if (!lstatSync(current).isSymbolicLink()) return current;
      current = resolve(dirname(current), readlinkSync(current));
    } catch {
      return current;
    }
  }
  return current;
}

interface LockInfo {
  pid: number;
  startedAt: string;
  command: string;
  /** Which process held `pid` (see processIdentity); absent in locks of older versions and off Linux. */
  process?: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else
    return errnoCode(error) === 'EPERM';
  }
}

/**
 * The boot and the start time (clock ticks since boot, /proc/PID/stat's 22nd field) of the
 * process that has `pid` now, or null where /proc cannot tell (other systems). Pids are reused:
 * a lock left by a killed run may name a pid that a later, unrelated process holds, and only
 * this pair tells the two apart.
 */
export function processIdentity(pid: number): string | null {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may hold spaces and ')': fields 3… follow the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTime = fields[22 - 3];
    return boot && startTime && /^\d+$/.test(startTime) ? `${boot}/${startTime}` : null;
  } catch {
    return null;
  }
}

/** Whether the run that wrote `holder` still runs: its pid is alive and, where the lock says which process that was, still that process. */
function holderRuns(holder: LockInfo): 'runs' | 'gone' | 'pid reused' {
  if (!processAlive(holder.pid)) return 'gone';
  if (holder.process === undefined) return 'runs';
  const now = processIdentity(holder.pid);
  return now === null || now === holder.process ? 'runs' : 'pid reused';
}

function readLock(path: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof info.pid !== 'number' || !Number.isInteger(info.pid) || info.pid <= 0) return null;
    const holder: LockInfo = { pid: info.pid, startedAt: String(info.startedAt ?? '?'), command: String(info.command ?? '?') };
    if (typeof info.process === 'string') holder.process = info.process;
    return holder;
  } catch {
    return null;
  }
}

/** Reads and checks a folder's manifest; null when there is none. Throws UsageError when a file differs. */
export function verifyManifest(dir: string, option = '--model'): Manifest | null {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return null;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (error) {
    throw new UsageError(`${option}: ${path} is not valid JSON (${describeFsError(error)}): the folder's outputs cannot be checked`);
  }
  if (manifest?.format !== MANIFEST_FORMAT || typeof manifest.files !== 'object' || manifest.files === null) {
    throw new UsageError(`${option}: ${path} is not a ${MANIFEST_FORMAT} manifest`);
  }
  for (const [name, expected] of Object.entries(manifest.files)) {
    const file = join(dir, name);
    if (name.includes('/') || name.includes('\\') || name.startsWith('.')) throw new UsageError(`${option}: ${path} lists '${name}', which is not a plain file name`);
    if (!existsSync(file)) throw new UsageError(`${option}: ${file} is missing, though ${MANIFEST_FILE} lists it: the folder is not one run's complete outputs`);
    const bytes = readFileSync(file);
    if (bytes.byteLength !== expected.bytes || sha256(bytes) !== expected.sha256) {
      throw new UsageError(`${option}: ${file} differs from what ${MANIFEST_FILE} recorded (changed after the run, or from another run): the folder is not one run's complete outputs`);
    }
  }
  return manifest;
}

export interface OutputFolderOptions {
  /** The option's name, for messages. */
  option?: string;
  /** The names a run writes (plus manifest.json): anything else in the folder is someone else's. */
  outputs: readonly string[];
  writer?: FileWriter;
  command?: string;
}

export class OutputFolder {
  /** The folder as given, for messages. */
  readonly given: string;
  readonly dir: string;
  readonly lockPath: string;
  #option: string;
  #outputs: ReadonlySet<string>;
  #writer: FileWriter;
  #command: string;
  #staging: string | null = null;
  #locked = false;
  #written: Record<string, { bytes: number; sha256: string }> = {};
  /** What recovery found and did, for the run's log. */
  readonly recovered: string[] = [];

  constructor(given: string, options: OutputFolderOptions) {
    this.given = given;
    this.dir = followLinks(resolve(given));
    this.#option = options.option ?? '--out';
    this.#outputs = new Set([...options.outputs, MANIFEST_FILE]);
    this.#writer = options.writer ?? diskWriter;
    this.#command = options.command ?? 'tapegrad train';
    this.lockPath = join(dirname(this.dir), `.${basename(this.dir)}.lock`);
  }

  /** The folder's hidden siblings a run creates: `.DIR.staging-…`, `.DIR.old-…`. */
  #siblings(kind: 'staging' | 'old'): string[] {
    const parent = dirname(this.dir);
    const prefix = `.${basename(this.dir)}.${kind}-`;
    try {
      return readdirSync(parent).filter((n) => n.startsWith(prefix)).map((n) => join(parent, n));
    } catch {
      return [];
    }
  }

  /**
   * Checks the path, takes the lock and clears what killed runs left. Throws UsageError
   * (exit 2) when the path cannot hold the outputs or another run holds the lock.
   */
  acquire(): void {
    this.check();
    const dir = this.dir;
    try {
      mkdirSync(dirname(dir), { recursive: true });
    } catch (error) {
      throw new UsageError(`${this.#option}: cannot create '${dirname(dir)}': ${describeFsError(error)}`);
    }
    this.#lock();
    try {
      this.#recover();
      this.#checkOwnership();
    } catch (error) {
      this.release();
      throw error;
    }
  }

  /** Checks, without touching anything, that the path can hold the outputs: run before the work, so a mistake costs no training. */
  check(): void {
    refuseSpecialPath(this.given, this.#option);
    const dir = this.dir;
    if (dirname(dir) === dir) throw new UsageError(`${this.#option}: '${this.given}' is the root directory; give a folder of its own`);
    if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`${this.#option}: '${this.given}' exists and is not a directory`);
    // the staging folder and the lock go beside the folder, so its parent must be writable
    let existing = dirname(dir);
    while (!existsSync(existing)) existing = dirname(existing);
    if (!statSync(existing).isDirectory()) throw new UsageError(`${this.#option}: cannot create '${this.given}': '${existing}' is not a directory`);
    try {
      accessSync(existing, constants.W_OK);
    } catch {
      throw new UsageError(`${this.#option}: cannot write beside '${this.given}': '${existing}' is not writable (the outputs are staged there and published together)`);
    }
    this.#checkOwnership();
  }

  #lock(): void {
    const info: LockInfo = { pid: process.pid, startedAt: new Date().toISOString(), command: this.#command };
    const identity = processIdentity(process.pid);
    if (identity !== null) info.process = identity;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx');
        try {
          writeSync(fd, `${JSON.stringify(info)}\n`);
        } finally {
          closeSync(fd);
        }
        this.#locked = true;
        return;
      } catch (error) {
        const code = errnoCode(error);
        if (code !== 'EEXIST') throw new UsageError(`${this.#option}: cannot create the lock file ${this.lockPath}: ${describeFsError(error)}`);
      }
      const holder = readLock(this.lockPath);
      const state = holder && holder.pid !== process.pid ? holderRuns(holder) : 'gone';
      if (holder && state === 'runs') {
        throw new UsageError(`${this.#option}: '${this.given}' is in use by another run (pid ${holder.pid}, started ${holder.startedAt}: ${holder.command}); wait for it or give another --out (lock file ${this.lockPath})`);
      }
      // the holder is gone (killed): its lock is stale, take it over
      this.recovered.push(
        !holder ? 'removed an unreadable lock file'
          : state === 'pid reused' ? `took over the lock of pid ${holder.pid}, which no longer runs (another process has that pid now)`
            : `took over the lock of pid ${holder.pid}, which no longer runs`,
      );
      rmSync(this.lockPath, { force: true });
    }
    throw new UsageError(`${this.#option}: could not take the lock ${this.lockPath}: another run keeps taking it`);
  }

  /** Finishes or undoes what a killed run left, so DIR holds one complete set again. */
  #recover(): void {
    const staged = this.#siblings('staging');
    const old = this.#siblings('old');
    if (!existsSync(this.dir)) {
      // killed between the two renames of a publish: the staged set with a manifest is the new one
      const complete = staged.find((s) => existsSync(join(s, MANIFEST_FILE)));
      if (complete) {
        renameSync(complete, this.dir);
        this.recovered.push(`finished publishing ${basename(complete)}, which a killed run had left complete`);
      } else if (old.length > 0) {
        renameSync(old[0], this.dir);
        this.recovered.push(`restored ${basename(old[0])}, the earlier outputs a killed run had moved aside`);
      }
    }
    for (const path of [...this.#siblings('staging'), ...this.#siblings('old')]) {
      rmSync(path, { recursive: true, force: true });
      this.recovered.push(`removed ${basename(path)}, left by a killed run`);
    }
    if (existsSync(this.dir)) {
      for (const name of readdirSync(this.dir)) {
        if (name.startsWith('.') && name.endsWith('.tmp')) {
          rmSync(join(this.dir, name), { force: true });
          this.recovered.push(`removed ${name}, a temporary file of a killed run`);
        }
      }
    }
  }

  #checkOwnership(): void {
    if (!existsSync(this.dir)) return;
    // hidden *.tmp files are killed runs' temporaries, which acquire() removes
    const foreign = readdirSync(this.dir).filter((n) => !this.#outputs.has(n) && !(n.startsWith('.') && n.endsWith('.tmp')));
    if (foreign.length > 0) {
      const shown = foreign.slice(0, 5).map((n) => `'${n}'`).join(', ') + (foreign.length > 5 ? `, … (${foreign.length} in all)` : '');
      throw new UsageError(`${this.#option}: '${this.given}' holds ${shown}, which tapegrad train does not write; the folder is replaced as a whole, so give a folder of its own (new or from an earlier run)`);
    }
  }

  /** Creates the staging folder; files written go there until publish(). */
  stage(): void {
    const name = `.${basename(this.dir)}.staging-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.#staging = join(dirname(this.dir), name);
    try {
      mkdirSync(this.#staging);
    } catch (error) {
      this.#staging = null;
      throw new UsageError(`${this.#option}: cannot create the staging folder ${join(dirname(this.dir), name)}: ${describeFsError(error)}`);
    }
  }

  get staging(): string | null {
    return this.#staging;
  }

  /** Writes one output file into the staging folder; a failure (a full disk) is a UsageError naming the file. */
  write(name: string, contents: string | Uint8Array): void {
    if (this.#staging === null) throw new Error('OutputFolder.write before stage()');
    const bytes = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : contents;
    const path = join(this.#staging, name);
    try {
      this.#writer.write(path, bytes);
    } catch (error) {
      if (errnoCode(error) === undefined) throw error;
      throw new UsageError(`cannot write ${join(this.given, name)} (staged at ${path}): ${describeFsError(error)}; nothing was published: ${this.#keeps()}`);
    }
    this.#written[name] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
  }

  /** What the folder holds when this run publishes nothing. */
  #keeps(): string {
    return existsSync(this.dir) && readdirSync(this.dir).length > 0
      ? `'${this.given}' keeps the earlier run's outputs`
      : `'${this.given}' holds no outputs`;
  }

  /** The message for a run that stops before publishing. */
  nothingWritten(): string {
    return `nothing written to ${this.given} (${this.#keeps().replace(/^'[^']*' /, '')})`;
  }

  /** Writes the manifest and swaps the staged set in for DIR's. Synchronous: no signal lands halfway. */
  publish(): void {
    const staging = this.#staging;
    if (staging === null) throw new Error('OutputFolder.publish before stage()');
    const manifest: Manifest = { format: MANIFEST_FORMAT, files: this.#written, createdAt: new Date().toISOString() };
    this.write(MANIFEST_FILE, `${JSON.stringify(manifest, null, 2)}\n`);
    syncDirectory(staging);
    const parent = dirname(this.dir);
    let old: string | null = null;
    try {
      if (existsSync(this.dir)) {
        old = join(parent, `.${basename(this.dir)}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
        renameSync(this.dir, old);
      }
      renameSync(staging, this.dir);
    } catch (error) {
      // put the earlier set back where it was
      if (old !== null && !existsSync(this.dir) && existsSync(old)) renameSync(old, this.dir);
      throw new UsageError(`${this.#option}: cannot publish the outputs into '${this.given}': ${describeFsError(error)}; ${this.#keeps()}`);
    }
    this.#staging = null;
    syncDirectory(parent);
    if (old !== null) rmSync(old, { recursive: true, force: true });
  }

  /** Removes the staging folder (an interrupted or failed run). Synchronous, so an exit handler can call it. */
  discard(): void {
    if (this.#staging !== null) rmSync(this.#staging, { recursive: true, force: true });
    this.#staging = null;
  }

  /** Removes the lock, if this run holds it. */
  release(): void {
    if (!this.#locked) return;
    this.#locked = false;
    const holder = readLock(this.lockPath);
    if (holder?.pid === process.pid) {
      try {
        unlinkSync(this.lockPath);
      } catch {
        // already gone
      }
    }
  }
}

/** Makes renames inside `dir` durable; best effort where a directory cannot be opened. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // only the entries' durability is at stake
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Used by evaluate and predict: finishes a publish a killed run left halfway (no DIR, a complete staged set beside it). */
export function recoverForReading(dir: string): void {
  const full = followLinks(resolve(dir));
  if (existsSync(full)) return;
  const parent = dirname(full);
  if (!existsSync(parent)) return;
  const lock = readLock(join(parent, `.${basename(full)}.lock`));
  if (lock && holderRuns(lock) === 'runs') return;
  const prefix = `.${basename(full)}.staging-`;
  const complete = readdirSync(parent).filter((n) => n.startsWith(prefix)).map((n) => join(parent, n)).find((s) => {
    try {
      return lstatSync(s).isDirectory() && existsSync(join(s, MANIFEST_FILE));
    } catch {
      return false;
    }
  });
  const old = readdirSync(parent).filter((n) => n.startsWith(`.${basename(full)}.old-`)).map((n) => join(parent, n));
  const source = complete ?? old[0];
  if (source) {
    try {
      renameSync(source, full);
    } catch {
      // read-only or raced: the reader reports the folder as missing
    }
  }
}
