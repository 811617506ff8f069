// Tracks Open_vSwitch.cur_cfg / next_cfg from a `monitor` (RFC 7047 §4.1.5,
// updates §4.1.6) so callers can wait until ovs-vswitchd has applied a
// transaction: ovs-vswitchd copies next_cfg into cur_cfg once it has
// reconfigured itself, which is exactly what `ovs-vsctl` waits for.
import { OvsdbConnectionError, OvsdbTimeoutError } from './errors.js';
import type { TableUpdates } from './cache.js';

export const CFG_TABLE = 'Open_vSwitch';

interface CfgRow {
  cur: number;
  next: number;
}

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}


export class CfgTracker {
  #row: CfgRow | undefined;
  readonly #waiters = new Set<Waiter>();

  get current(): Readonly<CfgRow> | undefined {
    return this.#row;
  }

  /**
   * Replaces the state with a monitor's initial contents (a new session). A waiter whose target is
   * above the new next_cfg can never be satisfied: the database was replaced while it waited.
   */
  reset(initial: unknown): void {
    this.#row = undefined;
    this.apply(initial);
    const next = this.current?.next ?? 0; // (via the getter: TS narrowed #row to undefined above)
    for (const w of this.#waiters) {
      if (w.target > next) {
        this.#settle(w, new OvsdbConnectionError(
          `the change was lost: the database was replaced while waiting for ovs-vswitchd (next_cfg ${next} < ${w.target})`));
      }
    }
    this.#check();
  }

  /** Applies an `update` notification's <table-updates>. */
  apply(updates: unknown): void {
    const rows = (updates as TableUpdates | null)?.[CFG_TABLE];
    if (typeof rows !== 'object' || rows === null) return;
    for (const change of Object.values(rows)) {
      const row = change.new;
      if (row === undefined) {
        this.#row = undefined;
      } else {
        // "modify" carries every monitored column in "new" (§4.1.6), so the row is replaced whole.
        this.#row = { cur: toInt(row.cur_cfg), next: toInt(row.next_cfg) };
      }
    }
    this.#check();
  }

  /** Resolves once cur_cfg ≥ target; rejects with OvsdbTimeoutError after timeoutMs. */
  waitFor(target: number, timeoutMs: number): Promise<void> {
    if (this.#row && this.#row.cur >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        target,
        resolve,
        reject,
        timer: setTimeout(() => {
          const cur = this.#row?.cur;
          this.#settle(w, new OvsdbTimeoutError(
            `ovs-vswitchd did not apply the change within ${timeoutMs} ms (cur_cfg ${cur ?? 'unknown'} < next_cfg ${target}); ` +
            'the transaction is committed in the database; is ovs-vswitchd running?'));
        }, timeoutMs),
      };
      this.#waiters.add(w);
    });
  }

  rejectAll(err: Error): void {
    for (const w of this.#waiters) this.#settle(w, err);
  }

  #check(): void {
    const cur = this.#row?.cur;
    if (cur === undefined) return;
    for (const w of this.#waiters) if (cur >= w.target) this.#settle(w);
  }

  #settle(w: Waiter, err?: Error): void {
    if (!this.#waiters.delete(w)) return;
    clearTimeout(w.timer);
    if (err) w.reject(err);
    else w.resolve();
  }
}

function toInt(v: unknown): number {
  return typeof v === 'number' ? v : 0;
}
