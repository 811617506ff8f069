// The spares each network keeps ready (pure bookkeeping; refill.ts makes and
// reaps them). A spare is a veth pair whose host end is already an OVS port
// on the network's bridge, tagged with its VLAN, acknowledged by
// ovs-vswitchd: CreateEndpoint hands one out instead of waiting for a
// bridge-wide reconfiguration (docs/design.md, "Spares").
//
// Hand-out is synchronous: a spare leaves the pool before the caller's first
// await, so two requests can never get the same one. Refill sizing adapts to
// demand: each hand-out, and each CreateEndpoint that found the pool empty,
// counts; the next refill makes enough for the pool's size plus that demand,
// up to BURST_FACTOR times the size, in one OVSDB transaction.

/** A spare veth pair of a network; `host` is its OVS port. */
export interface Spare {
  host: string;
  container: string;
  networkId: string;
}

/** A burst may grow a network's pool up to this many times OVSVLAN_SPARES. */
export const BURST_FACTOR = 4;

export class SparePool {
  /** OVSVLAN_SPARES: how many spares a network keeps; 0 disables them. */
  readonly size: number;
  readonly #ready = new Map<string, Spare[]>();
  /** hand-outs and misses since the network's last refill began */
  readonly #demand = new Map<string, number>();
  readonly #names = new Set<string>();

  constructor(size: number) {
    this.size = size;
  }

  /** Hands out one spare of the network (oldest first), or undefined; counts the demand either way. */
  take(networkId: string): Spare | undefined {
    if (this.size === 0) return undefined;
    this.#demand.set(networkId, (this.#demand.get(networkId) ?? 0) + 1);
    const spare = this.#ready.get(networkId)?.shift();
    if (spare) this.#names.delete(spare.host);
    return spare;
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
    if (kept.length === 0) this.#demand.delete(networkId);
    return gone;
  }

  /**
   * How many spares the network's next refill makes, and starts counting its
   * demand anew: the pool's size, or the demand since the last refill when
   * that was higher (a burst), capped at the maximum, less what is ready.
   */
  startRefill(networkId: string): number {
    const demand = this.#demand.get(networkId) ?? 0;
    this.#demand.set(networkId, 0);
    const want = Math.min(Math.max(this.size, demand), this.max);
    return Math.max(0, want - this.count(networkId));
  }

  /** The most spares a network's pool holds. */
  get max(): number {
    return this.size * BURST_FACTOR;
  }
}
