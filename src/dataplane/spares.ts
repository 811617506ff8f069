// The spares each network keeps ready (pure bookkeeping; refill.ts makes and
// reaps them). A spare is a veth pair whose host end is already an OVS port
// on the network's bridge, tagged with its VLAN, acknowledged by
// ovs-vswitchd: CreateEndpoint hands one out instead of waiting for a
// bridge-wide reconfiguration (docs/design.md, "Spares").
//
// Hand-out is synchronous: a spare leaves the pool before the caller's first
// await, so two requests can never get the same one.
//
// Sizing follows demand. Each hand-out, and each CreateEndpoint that found
// the pool empty, is counted with its time. A network's target is the number
// of those in the last DEMAND_WINDOW_MS, or in two refills' time when a
// refill takes longer than half that (ovs-vswitchd at 1,000 ports): what the
// network used while one refill ran, twice over. Never less than the pool's
// size (OVSVLAN_SPARES), never more than BURST_FACTOR times it. A refill
// starts whenever the pool holds fewer than the target (the low watermark is
// the target itself: a burst is met while the pool still has spares, not
// once it is dry), and makes the difference in one OVSDB transaction. An idle
// network's target falls back to its size; the surplus a burst left (spares
// above the size) stays until the network has had no demand for
// IDLE_SHRINK_MS, then leaves the pool to be reaped in one batch (supply.ts).

/** A spare veth pair of a network; `host` is its OVS port. */
export interface Spare {
  host: string;
  container: string;
  networkId: string;
}

/** A burst may grow a network's pool up to this many times OVSVLAN_SPARES (64 at the default 4). */
export const BURST_FACTOR = 16;

/** Demand is counted over at least this long (ms). */
export const DEMAND_WINDOW_MS = 1000;

/**
 * A network with no demand for this long (ms) gives back the spares above the
 * pool's size. Each idle spare is an OVS port, and every port makes each later
 * ovs-vswitchd reconfiguration dearer (~0.23 ms a port); reaping the surplus
 * costs one reconfiguration, so it waits until a burst is surely over.
 */
export const IDLE_SHRINK_MS = 60_000;

export class SparePool {
  /** OVSVLAN_SPARES: how many spares a network keeps; 0 disables them. */
  readonly size: number;
  readonly #ready = new Map<string, Spare[]>();
  readonly #names = new Set<string>();
  /** network ID → times (ms) of its recent hand-outs and misses, oldest first, at most `max` */
  readonly #demand = new Map<string, number[]>();
  /** network ID → how long its last refill took (ms) */
  readonly #refillMs = new Map<string, number>();
  readonly #now: () => number;

  /** `now`: the clock (tests pass their own). */
  constructor(size: number, now: () => number = () => performance.now()) {
    this.size = size;
    this.#now = now;
  }

  /** Hands out one spare of the network (oldest first), or undefined; counts the demand either way. */
  take(networkId: string): Spare | undefined {
    if (this.size === 0) return undefined;
    this.#countDemand(networkId);
    const spare = this.#ready.get(networkId)?.shift();
    if (spare) this.#names.delete(spare.host);
    return spare;
  }

  /** Counts one unit of demand now (each take(), whether it found a spare or not). */
  #countDemand(networkId: string): void {
    const times = this.#demand.get(networkId) ?? [];
    times.push(this.#now());
    if (times.length > this.max) times.shift();
    this.#demand.set(networkId, times);
  }

  /** Puts a spare in its network's pool; false (nothing changed) when the pool is full or already has it. */
  add(spare: Spare): boolean {
    if (this.#names.has(spare.host) || this.count(spare.networkId) >= this.max) return false;
    const list = this.#ready.get(spare.networkId) ?? [];
    list.push(spare);
    this.#ready.set(spare.networkId, list);
    this.#names.add(spare.host);
    return true;
  }

  /** Whether `host` is the port of a spare in the pool. */
  has(host: string): boolean {
    return this.#names.has(host);
  }

  count(networkId: string): number {
    return this.#ready.get(networkId)?.length ?? 0;
  }

  /** Every spare in the pool. */
  all(): Spare[] {
    return [...this.#ready.values()].flat();
  }

  /** Takes every spare of the network out of the pool (to reap them), or only those `which` picks. */
  drop(networkId: string, which: (s: Spare) => boolean = () => true): Spare[] {
    const list = this.#ready.get(networkId) ?? [];
    const gone = list.filter(which);
    const kept = list.filter((s) => !which(s));
    if (kept.length > 0) this.#ready.set(networkId, kept);
    else this.#ready.delete(networkId);
    for (const s of gone) this.#names.delete(s.host);
    if (kept.length === 0) {
      this.#demand.delete(networkId);
      this.#refillMs.delete(networkId);
    }
    return gone;
  }

  /**
   * The periodic shrink (supply.ts): when the network holds more spares than
   * the size and has had no demand for IDLE_SHRINK_MS, takes the surplus (the
   * newest) out of the pool and returns it, to be reaped; otherwise none.
   */
  shrink(networkId: string): Spare[] {
    const list = this.#ready.get(networkId);
    if (!list || list.length <= this.size) return [];
    const last = this.#demand.get(networkId)?.at(-1) ?? -Infinity;
    if (this.#now() - last < IDLE_SHRINK_MS) return [];
    const gone = list.splice(this.size);
    for (const s of gone) this.#names.delete(s.host);
    return gone;
  }

  /** The networks that have spares in the pool. */
  networks(): string[] {
    return [...this.#ready.keys()];
  }

  /** How many spares the network should hold now: its recent demand (see the top of this file), between the size and the cap. */
  target(networkId: string): number {
    if (this.size === 0) return 0;
    const window = Math.max(DEMAND_WINDOW_MS, 2 * (this.#refillMs.get(networkId) ?? 0));
    const since = this.#now() - window;
    const recent = (this.#demand.get(networkId) ?? []).filter((t) => t >= since).length;
    return Math.min(Math.max(this.size, recent), this.max);
  }

  /** How many spares the network's next refill makes: the target less what is ready. */
  wanted(networkId: string): number {
    return Math.max(0, this.target(networkId) - this.count(networkId));
  }

  /** Records how long a refill of the network took (ms), which widens its demand window. */
  refilled(networkId: string, ms: number): void {
    this.#refillMs.set(networkId, ms);
  }

  /** The most spares a network's pool holds. */
  get max(): number {
    return this.size * BURST_FACTOR;
  }
}
