// When reconciliation runs: on demand (start, OVSDB reconnect, SIGHUP), every
// few minutes, again with backoff after a failure (OVS back but its
// database not initialised yet, ovs-vswitchd still starting…) until one
// succeeds, and once more when the grace of something a run left alone for
// being young ends (ReconcileReport.recheckAt: what a crash left half-made is
// gone within the grace, not at the next periodic run).
import type { Logger } from 'pino';

export interface SchedulerOptions {
  everyMs: number;
  retryMs: { initial: number; max: number };
}

export class ReconcileScheduler {
  readonly #run: (reason: string) => Promise<{ recheckAt?: number | undefined }>;
  readonly #log: Logger;
  readonly #opts: SchedulerOptions;
  readonly #timer: NodeJS.Timeout;
  #retry: NodeJS.Timeout | undefined;
  #retryDelay: number;
  #recheck: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(run: (reason: string) => Promise<{ recheckAt?: number | undefined }>, log: Logger, opts: SchedulerOptions) {
    this.#run = run;
    this.#log = log;
    this.#opts = opts;
    this.#retryDelay = opts.retryMs.initial;
    this.#timer = setInterval(() => void this.trigger('timer'), opts.everyMs).unref();
  }

  /** Runs a reconciliation now; never throws (failures are logged and retried). */
  async trigger(reason: string): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    try {
      const { recheckAt } = await this.#run(reason);
      this.#retryDelay = this.#opts.retryMs.initial;
      this.recheckAt(recheckAt);
    } catch (err) {
      const delay = this.#retryDelay;
      this.#retryDelay = Math.min(delay * 2, this.#opts.retryMs.max);
      this.#log.error({ err, reason, retryInMs: delay }, `reconciliation failed: ${(err as Error).message}; retrying`);
      if (!this.#closed) this.#retry = setTimeout(() => void this.trigger('retry'), delay).unref();
    }
  }

  /** Runs again at `at` (ms since epoch), unless the periodic run comes first; undefined: no such run. */
  recheckAt(at: number | undefined): void {
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
    if (at === undefined || this.#closed || at - Date.now() >= this.#opts.everyMs) return;
    this.#recheck = setTimeout(() => void this.trigger('grace ended'), Math.max(0, at - Date.now())).unref();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#retry);
    clearTimeout(this.#recheck);
  }
}
