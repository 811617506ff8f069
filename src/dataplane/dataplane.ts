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
import { fenceHostPorts, removeInfra, syncUplink } from './infra.js';
import { reapSpares } from './refill.js';
import { getLink } from '../link/links.js';
import type { SparePool, Spare } from './spares.js';
import { SpareSupply } from './supply.js';
import { hasMarks, shortId, spareExternalIds } from '../names.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';

export type { Spare };

export class Dataplane {
  readonly #ctx: DataplaneContext;
  readonly #supply: SpareSupply;
  readonly #pool: SparePool;
  readonly #detacher: Detacher;
  /** endpoint ID → the re-mark of the spare handed to it, running after CreateEndpoint's answer */
  readonly #claims = new Map<string, { networkId: string; run: Promise<void> }>();

  /** `spares`: OVSVLAN_SPARES, the spares each network keeps (0: none, every CreateEndpoint makes its own pair). */
  constructor(ctx: DataplaneContext, opts: { spares: number }) {
    this.#ctx = ctx;
    this.#supply = new SpareSupply(ctx, opts.spares);
    this.#pool = this.#supply.pool;
    this.#detacher = new Detacher(ctx);
  }

  // ---- endpoints

  /** CreateEndpoint: a spare of the network, out of the pool before the caller's next await; undefined when none is ready. */
  takeSpare(networkId: string): Spare | undefined {
    return this.#pool.take(networkId);
  }

  /** CreateEndpoint, the pool being empty: a spare of the refill under way, once made (supply.ts); undefined when there is none. */
  awaitSpare(networkId: string): Promise<Spare | undefined> {
    return this.#supply.awaitSpare(networkId);
  }

  /**
   * CreateEndpoint, before it saves a record naming the spare: whether its
   * port is still on the network's bridge with its tag and a spare's marks,
   * read from the OVSDB cache (no round trip). It is not after OVS restarted
   * with an empty database and before reconciliation has run.
   */
  async isAttached(spare: Spare, net: NetworkRecord): Promise<boolean> {
    const port = await this.#ctx.vswitch.getPort(spare.host);
    return port?.bridge === net.bridge && port.tag === net.vlan && hasMarks(port.externalIds, spareExternalIds(net.id));
  }

  /** A spare handed out whose port is gone: reaped in the background (reconciliation's spare-gone finishes it after a crash). */
  discardSpare(spare: Spare): void {
    void reapSpares(this.#ctx, [spare], false);
  }

  /** A hand-out undone before the endpoint's record was saved: the spare, still marked as such, goes back (or away when the pool is full). */
  returnSpare(spare: Spare): void {
    if (!this.#pool.add(spare)) void reapSpares(this.#ctx, [spare]);
  }

  /**
   * A failed CreateEndpoint's undo: the spare goes back as returnSpare says,
   * unless its container end is gone (a refused DHCP lease was given back from
   * it): then it is reaped, port included, and the pool refilled.
   */
  async undoHandOut(spare: Spare): Promise<void> {
    if (await getLink(spare.container)) return this.returnSpare(spare);
    this.discardSpare(spare);
    this.refill(spare.networkId);
  }

  /**
   * CreateEndpoint, once the record naming the spare is saved, just before it
   * answers: the spare's port and veth are re-marked as the endpoint's in the
   * background. Nothing of the data plane waits for that: the port is on its
   * bridge with its tag already (isAttached), and external_ids and aliases do
   * not change forwarding. What reads or acts on those marks waits for it:
   * a DeleteEndpoint's background removal of the same endpoint, a create or
   * retry of the same ID (settled), DeleteNetwork, reconciliation (detached)
   * and the daemon's close. A crash before it is done leaves a record naming a
   * port still marked spare: reconciliation's port-remark. A failure is logged
   * and left to the same rule (or to port-missing, the port being gone).
   */
  claimLater(ep: EndpointRecord): void {
    const run = remarkSpare(this.#ctx, ep).catch((err: unknown) =>
      this.#ctx.log.warn({ err, endpoint: shortId(ep.id), port: ep.hostIf }, `re-marking a spare failed: ${(err as Error).message}; reconciliation re-marks it`))
      .finally(() => {
        if (this.#claims.get(ep.id)?.run === run) this.#claims.delete(ep.id);
      });
    this.#claims.set(ep.id, { networkId: ep.networkId, run });
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
   * `recorded`: the record existed (its port goes whether the re-mark of a
   * spare handed to it succeeded or not: detach.ts).
   */
  detachLater(ep: EndpointRecord, recorded: boolean): void {
    // after the re-mark of its spare, if that is still running
    this.#detacher.enqueue(ep, recorded, this.#claims.get(ep.id)?.run);
  }

  /** Resolves once the background re-mark and removal of this endpoint ID (if any) are done: a create of the same ID waits for them. */
  async settled(endpointId: string): Promise<void> {
    await this.#claims.get(endpointId)?.run;
    await this.#detacher.settled(endpointId);
  }

  // ---- spares

  /** Tops the network's pool up in the background when it holds fewer than its target (supply.ts). */
  refill(networkId: string): void {
    this.#supply.refill(networkId);
  }

  /** Whether `host` is the port of a spare in the pool. */
  hasSpare(host: string): boolean {
    return this.#pool.has(host);
  }

  /**
   * Reconciliation: a spare found in OVS and the kernel, whole, of a live
   * network, joins the pool while the pool holds fewer than its target (after
   * a restart: OVSVLAN_SPARES, no demand being known); false otherwise, and
   * the caller reaps it: what a burst left is not kept by a network gone idle.
   */
  adoptSpare(spare: Spare): boolean {
    return this.#pool.count(spare.networkId) < this.#pool.target(spare.networkId) && this.#pool.add(spare);
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
    await this.#claimed(n.id); // its endpoints' re-marks: removed below by the endpoints' marks
    const left = ctx.state.endpoints(n.id);
    for (const ep of left) await removeEndpoint(ctx, ep);
    if (ctx.state.network(n.id)) await ctx.state.removeNetwork(n.id);
    await this.#detacher.idle(n.id); // its own endpoints' only (their re-marks were awaited above): other networks' are no business of this one
    await this.#supply.run(n.id, async () => {
      const pooled = this.#pool.drop(n.id);
      const stray = (await listOwnedSpares(ctx.vswitch)).filter((s) => s.networkId === n.id && !pooled.some((p) => p.host === s.host));
      await reapSpares(ctx, [...pooled, ...stray]);
    });
    await removeInfra(ctx, n);
    await syncUplink(ctx, n.bridge, n.uplink);
    await this.deleteBridgeIfUnused(n.bridge);
    // its host_ip is no other port's business any more: best effort, the network is gone (reconciliation refences)
    if (n.hostIp) await fenceHostPorts(ctx).catch((err: unknown) => ctx.log.warn({ err, network: n.id }, 'host port filters not refreshed'));
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
   * Resolves once no re-mark of a spare handed out and no detach is queued or
   * running (reconciliation starts with it), or, given a network, none of
   * its endpoints' (DeleteNetwork). Refills are not waited for here: one that waits at the gate of the
   * caller's exclusive section would wait for the caller; one that runs holds
   * its lock, which the exclusive section waits for already.
   */
  async detached(networkId?: string): Promise<void> {
    await this.#claimed(networkId);
    await this.#detacher.idle(networkId);
  }

  /** No refill starts any more; resolves once the background work is done (the daemon's close). */
  async close(): Promise<void> {
    await this.#supply.close();
    await this.detached();
  }

  /** Resolves once no re-mark of a spare handed out runs (of the network's endpoints, given one). */
  async #claimed(networkId?: string): Promise<void> {
    const runs = (): Array<Promise<void>> =>
      [...this.#claims.values()].filter((c) => networkId === undefined || c.networkId === networkId).map((c) => c.run);
    while (runs().length > 0) await Promise.all(runs());
  }
}
