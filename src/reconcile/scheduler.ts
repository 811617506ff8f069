// When reconciliation runs: on demand (start, OVSDB reconnect, SIGHUP), every
// few minutes, and again with backoff after a failure (OVS back but its
// database not initialised yet, ovs-vswitchd still starting…) until one succeeds.
import type { Logger } from 'pino';

export interface SchedulerOptions {
  everyMs: number;
  retryMs: { initial: number; max: number };
}

export class ReconcileScheduler {
  readonly #run: (reason: string) => Promise<unknown>;
  readonly #log: Logger;
  readonly #opts: SchedulerOptions;
  readonly #timer: NodeJS.Timeout;
  #retry: NodeJS.Timeout | undefined;
  #retryDelay: number;
  #closed = false;

  constructor(run: (reason: string) => Promise<unknown>, log: Logger, opts: SchedulerOptions) {
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
      await this.#run(reason);
      this.#retryDelay = this.#opts.retryMs.initial;
    } catch (err) {
      const delay = this.#retryDelay;
      this.#retryDelay = Math.min(delay * 2, this.#opts.retryMs.max);
      this.#log.error({ err, reason, retryInMs: delay }, `reconciliation failed: ${(err as Error).message}; retrying`);
      if (!this.#closed) this.#retry = setTimeout(() => void this.trigger('retry'), delay).unref();
    }
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#retry);
  }
}
