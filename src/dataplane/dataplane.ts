// The data plane as one object, for the driver (Docker's calls) and the
// reconciler alike: endpoints wired and unwired, the spares of each network
// handed out, refilled and reaped, detaches finished in the background, and a
// network's infrastructure and bridge taken away. The stateless steps live
// in endpoint.ts, infra.ts and refill.ts; this object owns what is in memory
// (the spare pool, the background work) and its ordering.
import { listOwnedSpares } from './owned.js';
import type { DataplaneContext } from './context.js';
import { Detacher } from './detach.js';
import { remarkSpare, removeEndpoint, unwireQuietly, wireEndpoint } from './endpoint.js';
import { removeInfra, syncUplink } from './infra.js';
import { makeSpares, reapSpares } from './refill.js';
import { SparePool, type Spare } from './spares.js';
import { shortId, spareExternalIds } from '../names.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';

export type { Spare };

export class Dataplane {
  readonly #ctx: DataplaneContext;
  readonly #pool: SparePool;
  readonly #detacher: Detacher;
  /** network ID → its refill in progress */
  readonly #refilling = new Map<string, Promise<void>>();
  /** networks whose pool was asked for again while a refill ran */
  readonly #again = new Set<string>();
  #closed = false;

  /** `spares`: OVSVLAN_SPARES, the spares each network keeps (0: none, every CreateEndpoint makes its own pair). */
  constructor(ctx: DataplaneContext, opts: { spares: number }) {
    this.#ctx = ctx;
    this.#pool = new SparePool(opts.spares);
    this.#detacher = new Detacher(ctx);
  }

  // ---- endpoints

  /** CreateEndpoint: a spare of the network, out of the pool before the caller's next await; undefined when none is ready. */
  takeSpare(networkId: string): Spare | undefined {
    return this.#pool.take(networkId);
  }

  /** A hand-out undone before the endpoint's record was saved: the spare, still marked as such, goes back (or away when the pool is full). */
  returnSpare(spare: Spare): void {
    if (!this.#pool.add(spare)) void reapSpares(this.#ctx, [spare]);
  }

  /** CreateEndpoint, after the record is saved: the spare's port and veth are re-marked as the endpoint's. */
  remarkSpare(ep: EndpointRecord): Promise<void> {
    return remarkSpare(this.#ctx, ep);
  }

  /** CreateEndpoint without a spare, its retries, and reconciliation's repair: see endpoint.ts. */
  wireEndpoint(net: NetworkRecord, ep: EndpointRecord): Promise<void> {
    return wireEndpoint(this.#ctx, net, ep);
  }

  /** A rollback of wireEndpoint for an endpoint never recorded. */
  unwireQuietly(ep: EndpointRecord): Promise<void> {
    return unwireQuietly(this.#ctx, ep);
  }

  /** Port, veth and record, waited for (reconciliation, stale endpoints of DeleteNetwork). */
  removeEndpoint(ep: EndpointRecord): Promise<void> {
    return removeEndpoint(this.#ctx, ep);
  }

  /**
   * DeleteEndpoint, once the record is removed (or was never saved): port and
   * veth go in the background, batched with the others of the moment.
   * `recorded`: the record existed; `spare`: its port still has a spare's marks.
   */
  detachLater(ep: EndpointRecord, recorded: boolean, spare = false): void {
    this.#detacher.enqueue(ep, recorded, spare ? spareExternalIds(ep.networkId) : undefined);
  }

  /** Resolves once a background removal of this endpoint ID (if any) is done: a create of the same ID waits for it. */
  settled(endpointId: string): Promise<void> {
    return this.#detacher.settled(endpointId);
  }

  // ---- spares

  /**
   * Tops the network's pool up in the background, sized by demand (spares.ts),
   * never while a request waits: the refill waits at the gate of a
   * reconciliation like a request, and runs under its own lock, which only
   * DeleteNetwork (to reap) also takes.
   */
  refill(networkId: string): void {
    if (this.#pool.size === 0 || this.#closed) return;
    if (this.#refilling.has(networkId)) {
      this.#again.add(networkId);
      return;
    }
    const { locks, log } = this.#ctx;
    const run = locks.outside(() => locks.run(spareLockKey(networkId), () => this.#refillNow(networkId)))
      .then((made) => {
        if (made > 0 && this.#again.delete(networkId)) setImmediate(() => this.refill(networkId));
      }, (err: unknown) => log.error({ err, network: shortId(networkId) }, `refilling spares failed: ${(err as Error).message}`))
      .finally(() => {
        this.#refilling.delete(networkId);
        this.#again.delete(networkId);
      });
    this.#refilling.set(networkId, run);
  }

  async #refillNow(networkId: string): Promise<number> {
    const net = this.#ctx.state.network(networkId);
    const count = net ? this.#pool.startRefill(networkId) : 0;
    if (!net || count === 0 || this.#closed) return 0;
    const made = await makeSpares(this.#ctx, net, count);
    // the network may be gone meanwhile (its DeleteNetwork waits for this lock, then reaps)
    const extra = this.#ctx.state.network(networkId) ? made.filter((s) => !this.#pool.add(s)) : made;
    await reapSpares(this.#ctx, extra);
    this.#ctx.log.debug({ network: shortId(networkId), made: made.length, ready: this.#pool.count(networkId) }, 'spares refilled');
    return made.length - extra.length;
  }

  spareCount(networkId: string): number {
    return this.#pool.count(networkId);
  }

  /** Whether `host` is the port of a spare in the pool. */
  hasSpare(host: string): boolean {
    return this.#pool.has(host);
  }

  /** Reconciliation: a spare found in OVS and the kernel, whole, of a live network, joins the pool; false when the pool is full. */
  adoptSpare(spare: Spare): boolean {
    return this.#pool.add(spare);
  }

  /** Reconciliation: the pool's spares `which` picks (their port is gone) leave the pool, to be reaped. */
  forgetSpares(which: (s: Spare) => boolean): Spare[] {
    const nets = new Set(this.#pool.all().map((s) => s.networkId));
    return [...nets].flatMap((id) => this.#pool.drop(id, which));
  }

  reapSpares(spares: readonly Spare[], wait = true): Promise<void> {
    return reapSpares(this.#ctx, spares, wait);
  }

  // ---- networks

  /**
   * Takes a network away, in this order: the endpoints it still has (port,
   * veth, record), its record, the endpoints' background removals, its
   * spares (those of the pool and any other marked for it), its tunnel and
   * host ports, its VLAN on the uplink, and its bridge if ovsvlan created it
   * and nothing else is on it. Stops at the first failure (reconciliation
   * finishes the job). The caller holds the network's and the bridge's
   * locks, or runs alone. Returns the endpoints' IDs.
   */
  async removeNetwork(n: NetworkRecord): Promise<string[]> {
    const ctx = this.#ctx;
    const left = ctx.state.endpoints(n.id);
    for (const ep of left) await removeEndpoint(ctx, ep);
    if (ctx.state.network(n.id)) await ctx.state.removeNetwork(n.id);
    await this.#detacher.idle();
    await ctx.locks.run(spareLockKey(n.id), async () => {
      const pooled = this.#pool.drop(n.id);
      const stray = (await listOwnedSpares(ctx.vswitch)).filter((s) => s.networkId === n.id && !pooled.some((p) => p.host === s.host));
      await reapSpares(ctx, [...pooled, ...stray]);
    });
    await removeInfra(ctx, n);
    await syncUplink(ctx, n.bridge, n.uplink);
    await this.deleteBridgeIfUnused(n.bridge);
    return left.map((e) => e.id);
  }

  /** Deletes a bridge ovsvlan created once no network uses it and only its own internal port is left. */
  async deleteBridgeIfUnused(bridge: string): Promise<boolean> {
    const { state, vswitch, log } = this.#ctx;
    if (state.networks().some((o) => o.bridge === bridge)) return false;
    const b = await vswitch.getBridge(bridge);
    if (!b?.ours || !b.portNames.every((p) => p === bridge)) return false;
    await vswitch.deleteBridge(bridge);
    log.info({ bridge }, 'bridge removed with its last network');
    return true;
  }

  /**
   * Resolves once no detach is queued or running (reconciliation starts with
   * it). Refills are not waited for here: one that waits at the gate of the
   * caller's exclusive section would wait for the caller; one that runs holds
   * its lock, which the exclusive section waits for already.
   */
  detached(): Promise<void> {
    return this.#detacher.idle();
  }

  /** No refill starts any more; resolves once the background work is done (the daemon's close). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#detacher.idle();
    await Promise.all([...this.#refilling.values()]);
  }
}

/** A network's refills and the reaping of its spares are serialised. */
const spareLockKey = (networkId: string): string => `spares:${networkId}`;
