// The time until which ovsvlan ran and had dealt with the containers dockerd
// gave up on: the file `alive` in the state directory, one ISO time. The
// revive (revive.ts) reads it once at start, before anything is written, and
// starts only containers whose failed start came later: a failure from before
// that time was either started by that run's revive or left down on purpose.
//
// The revive marks it once its pass is done (not before: a run that never got
// to look, OVSDB down or dockerd silent, must leave the failures to the next
// one), then every 30 s, and at a clean stop. A crash loses at most 30 s,
// which only makes the next start look at more. Never on the request path;
// a write that fails is logged and does not stop the daemon.
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FileStore } from '../store/file-store.js';

export const HEARTBEAT_FILE = 'alive';
const EVERY_MS = 30_000;

/** What the reviver needs of the heartbeat: a unit test passes a fake. */
export interface AliveMark {
  /** ms since the epoch: when ovsvlan was last known to run before this start; undefined: never */
  readonly previous: number | undefined;
  /** Marks now, then every 30 s. Idempotent. */
  start(): void;
  /** Marks now one last time if started, and stops. */
  stop(): Promise<void>;
}

export class Heartbeat implements AliveMark {
  readonly previous: number | undefined;
  readonly #file: string;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  private constructor(stateDir: string, previous: number | undefined, log: Logger) {
    this.#file = join(stateDir, HEARTBEAT_FILE);
    this.previous = previous;
    this.#log = log;
  }

  /**
   * Reads the previous mark. Without one (the first start of a version that
   * keeps it), the last save of state.json stands in: the daemon ran then. With
   * neither, undefined: nothing was ever recorded, so every failure counts.
   */
  static async open(stateDir: string, log: Logger): Promise<Heartbeat> {
    const text = await readFile(join(stateDir, HEARTBEAT_FILE), 'utf8').catch(() => '');
    const marked = Date.parse(text.trim());
    const previous = Number.isFinite(marked) ? marked : await stat(new FileStore(stateDir).path).then((s) => s.mtimeMs, () => undefined);
    return new Heartbeat(stateDir, previous, log);
  }

  start(): void {
    if (this.#timer) return;
    this.#mark();
    this.#timer = setInterval(() => this.#mark(), EVERY_MS).unref();
  }

  async stop(): Promise<void> {
    if (!this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#mark();
    await this.#writing;
  }

  /** One write at a time: a temp file renamed over the old one, so a reader sees a whole time or the previous one. */
  #mark(): void {
    this.#writing = this.#writing.then(async () => {
      const tmp = `${this.#file}.tmp-${process.pid}`;
      try {
        await writeFile(tmp, `${new Date().toISOString()}\n`, { mode: 0o600 });
        await rename(tmp, this.#file);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => undefined);
        this.#log.warn({ err }, `cannot write ${this.#file}: ${(err as Error).message}; the next start may start containers left down before`);
      }
    });
  }
}
