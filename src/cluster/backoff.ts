// Retry delays of the cluster's background loops (hosts.ts, host-view.ts):
// doubling from initialMs to maxMs, and a wait that stop/close cut short.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** Retries while etcd is unreachable: 1 s, doubling, at most 10 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 10_000 };

/** Doubling delays from initialMs to maxMs, and a wait that cancel() cuts short (stop, close). */
export class Backoff {
  readonly #opts: BackoffOptions;
  #delay: number;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  constructor(opts: BackoffOptions) {
    this.#opts = opts;
    this.#delay = opts.initialMs;
  }

  /** the delay the next wait() will take */
  get nextMs(): number {
    return this.#delay;
  }

  /** After a success: the next failure waits initialMs again. */
  reset(): void {
    this.#delay = this.#opts.initialMs;
  }

  /** Waits the current delay (or until cancel()), and doubles the next one up to maxMs. */
  async wait(): Promise<void> {
    const ms = this.#delay;
    this.#delay = Math.min(ms * 2, this.#opts.maxMs);
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
    this.#wake = undefined;
  }

  /** Ends a wait in progress now (the loop then sees it was stopped). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#wake?.();
  }
}
