// The embedded store: a snapshot and a journal in the state directory
// (journal.ts says what they hold). A batch of changes costs one line
// appended to the journal and one fdatasync, whatever the number of records.
//
// A failed append (a full disk) is cut off again before the next one, so it is
// never replayed; when even the cut fails, the journal is rewritten from its
// whole lines before anything else is appended. Once the journal has grown as
// large as the snapshot (1 MiB at least), a compaction writes the state as a
// new snapshot in the background (temp file, fsync, rename, fsync of the
// directory) and then starts the journal anew with the lines made meanwhile.
// A crash at any step loads correctly: the snapshot says which lines it holds.
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { causeText, StoreError } from '../errors.js';
import type { Change } from './changes.js';
import { encodeLine, JOURNAL_FILE, readSaved, SNAPSHOT_FILE } from './journal.js';
import { STATE_VERSION, type State } from './records.js';
import type { Store } from './store.js';

const COMPACT_AFTER_BYTES = 1 << 20;

export interface FileStoreOptions {
  /** The journal is compacted once it holds this many bytes, or as many as the snapshot when that is more (default 1 MiB). */
  compactAfterBytes?: number;
  /** Told of a compaction that failed: the journal grows on, and compaction is tried again once it has grown as much again. */
  onCompactionError?: (err: Error) => void;
}

export class FileStore implements Store {
  readonly #dir: string;
  readonly #minCompact: number;
  readonly #onCompactionError: (err: Error) => void;
  #journal: FileHandle | undefined;
  /** Bytes of the journal that are whole, durable lines. */
  #size = 0;
  /** The sequence number of the last durable batch. */
  #seq = 0;
  #snapshotBytes = 0;
  #compactAt = 0;
  /** The compaction in progress. */
  #compaction: Promise<void> | undefined;
  /** A failed append could not be cut off: the journal is rewritten before the next one. */
  #damaged = false;
  /** A rename of the journal is not known to be durable: the directory is synced before the next append. */
  #dirUnsynced = false;
  /** Appends and journal rewrites, one at a time. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string, options: FileStoreOptions = {}) {
    this.#dir = dir;
    this.#minCompact = options.compactAfterBytes ?? COMPACT_AFTER_BYTES;
    this.#onCompactionError = options.onCompactionError ?? (() => undefined);
  }

  /** The snapshot, state.json (its mtime tells when a daemon of an older version last saved). */
  get path(): string {
    return join(this.#dir, SNAPSHOT_FILE);
  }

  get #journalPath(): string {
    return join(this.#dir, JOURNAL_FILE);
  }

  /**
   * Called once, at daemon start under the state directory's lock: reads the
   * snapshot and replays the journal, cuts off a torn last line, opens the
   * journal for appending (creating it, durably), and writes a snapshot of an
   * older version anew, so that an older daemon refuses it rather than miss the journal.
   */
  async load(): Promise<State> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const saved = await readSaved(this.#dir);
    const journal = await open(this.#journalPath, 'a+', 0o600).catch((err: unknown) => {
      throw new StoreError(`cannot open ${this.#journalPath}: ${causeText(err)}`, err);
    });
    try {
      if (saved.journalSize > saved.journalBytes) {
        await journal.truncate(saved.journalBytes);
        await journal.datasync();
      }
      if (!saved.journalExists) await this.#syncDir();
    } catch (err) {
      await journal.close();
      throw new StoreError(`cannot cut the torn last line off ${this.#journalPath}: ${causeText(err)}`, err);
    }
    this.#journal = journal;
    this.#size = saved.journalBytes;
    this.#seq = saved.state.seq;
    this.#snapshotBytes = saved.snapshotBytes;
    if (saved.snapshotVersion !== undefined && saved.snapshotVersion !== STATE_VERSION) {
      await this.#writeSnapshot(JSON.stringify(saved.state));
    }
    this.#compactAt = this.#threshold;
    return saved.state;
  }

  /** Appends one batch as one journal line, durably; resolves to its sequence number. Rejects when it is not saved: it is never replayed then. */
  append(changes: readonly Change[]): Promise<number> {
    return this.#serially(() => this.#append(changes));
  }

  async #append(changes: readonly Change[]): Promise<number> {
    if (!this.#journal) throw new Error('FileStore appended to before load()');
    try {
      if (this.#damaged) await this.#rewriteJournal(0);
      if (this.#dirUnsynced) await this.#syncDir();
    } catch (err) {
      throw new StoreError(`cannot save ${this.#journalPath}: ${causeText(err)}`, err);
    }
    const journal = this.#journal; // rewritten above, maybe
    const seq = this.#seq + 1;
    const line = Buffer.from(encodeLine(seq, changes));
    try {
      await journal.writeFile(line); // O_APPEND: at the end, whatever was cut off
      await journal.datasync();
    } catch (err) {
      await this.#cutBack();
      throw new StoreError(`cannot save ${this.#journalPath}: ${causeText(err)}`, err);
    }
    this.#size += line.length;
    this.#seq = seq;
    return seq;
  }

  /**
   * Cuts what a failed append wrote off the journal, or when that fails,
   * rewrites the journal from its whole lines; when that fails too (a dying
   * disk), the journal is marked damaged and rewritten before the next append
   * (until then, a crash may replay the failed batch if it was written whole).
   */
  async #cutBack(): Promise<void> {
    try {
      await this.#journal!.truncate(this.#size);
      await this.#journal!.datasync();
    } catch {
      this.#damaged = true;
      await this.#rewriteJournal(0).catch(() => undefined);
    }
  }

  /**
   * Called after each batch is applied, with the state that holds it: when
   * the journal has grown enough, serialises `state` now (its seq is the last
   * line's) and writes it as the new snapshot in the background. Never
   * throws: a failure goes to onCompactionError.
   */
  maybeCompact(state: State): void {
    // (a state of another seq than the journal's last line would be a caller's bug: it is not written)
    if (this.#compaction || this.#size < this.#compactAt || !this.#journal || state.seq !== this.#seq) return;
    const text = JSON.stringify(state); // one stringify per compaction: ~50 ms at 65,536 leases (see docs/operations.md)
    const from = this.#size; // the lines after this one are not in the snapshot
    this.#compaction = this.#compact(text, from)
      .catch((err: Error) => {
        this.#compactAt = this.#size + this.#threshold; // not again at the next append
        this.#onCompactionError(err);
      })
      .finally(() => (this.#compaction = undefined));
  }

  /** Snapshot first, durably; only then the journal loses the lines it holds. */
  async #compact(text: string, from: number): Promise<void> {
    await this.#writeSnapshot(text);
    await this.#serially(() => this.#rewriteJournal(from));
    this.#compactAt = this.#threshold;
  }

  /** Journal bytes that make a compaction due: as many as the snapshot, so that its cost per change stays flat. */
  get #threshold(): number {
    return Math.max(this.#minCompact, this.#snapshotBytes);
  }

  async #writeSnapshot(text: string): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      const f = await open(tmp, 'w', 0o600);
      try {
        await f.writeFile(text);
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, this.path);
      await this.#syncDir();
    } catch (err) {
      await rm(tmp, { force: true });
      throw new StoreError(`cannot save ${this.path}: ${causeText(err)}`, err);
    }
    this.#snapshotBytes = Buffer.byteLength(text);
  }

  /**
   * Replaces the journal by a file holding its whole lines from byte `from`
   * on, renamed over it. The new file's handle is the one appended to from
   * then on; until the directory is synced, appends wait for that.
   */
  async #rewriteJournal(from: number): Promise<void> {
    const old = this.#journal!;
    const keep = Buffer.alloc(this.#size - from);
    for (let done = 0; done < keep.length;) {
      const { bytesRead } = await old.read(keep, done, keep.length - done, from + done);
      if (bytesRead === 0) throw new StoreError(`${this.#journalPath} is shorter than its ${this.#size} saved bytes`);
      done += bytesRead;
    }
    const tmp = `${this.#journalPath}.tmp-${process.pid}`;
    await rm(tmp, { force: true }); // 'a+' would keep what a file of that name held: a dead daemon's, when it had our PID
    const next = await open(tmp, 'a+', 0o600); // read by the next rewrite
    try {
      await next.writeFile(keep);
      await next.datasync();
      await rename(tmp, this.#journalPath);
    } catch (err) {
      await next.close();
      await rm(tmp, { force: true });
      throw err;
    }
    this.#journal = next;
    this.#size = keep.length;
    this.#damaged = false;
    this.#dirUnsynced = true;
    await old.close().catch(() => undefined);
    await this.#syncDir();
  }

  async #syncDir(): Promise<void> {
    const d = await open(this.#dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    this.#dirUnsynced = false;
  }

  #serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Closes the journal (tests; the daemon keeps it open until it exits). Waits for a compaction in progress. */
  async close(): Promise<void> {
    await this.#compaction;
    await this.#serially(async () => {
      await this.#journal?.close();
      this.#journal = undefined;
    });
  }
}
