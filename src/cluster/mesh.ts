// The self-assembling tunnel mesh (issue 11): each overlay network created in
// cluster mode without remote= (record.mesh) has one tunnel port to every
// other live host of the cluster that speaks its encapsulation. Level-
// triggered: each run compares the host view (hosts.ts) with the tunnel ports
// OVS has on the network's bridge (marked with the network and the peer,
// names.ts meshTunnelExternalIds) and applies the difference in one OVSDB
// transaction per network. A peer whose `alive` key went away keeps its
// tunnel for graceMs (a lease blip must not cut traffic); a run is scheduled
// for the instant that grace ends.
//
// What the daemon does with it:
//   const mesh = new Mesh(ctx, view, { hostId, underlayIp }, settings.meshGraceMs);
//   mesh.onCounts((tunnels) => liveness.update({ tunnels }));
//   mesh.start();                    // runs now, on every host change, every 30 s
//   mesh.kick('ovsdb reconnected');  // whenever OVS may have lost or changed ports
//   await mesh.close();
// DeleteNetwork removes a network's mesh tunnels with it (dataplane/infra.ts
// removeInfra); reconciliation and status leave them to the mesh
// (reconcile/wanted.ts isMeshTunnel).
import type { DataplaneContext } from '../dataplane/context.js';
import { bridgeLockKey } from '../lock.js';
import { meshPeerOf, meshTunnelExternalIds, meshTunnelName, shortId } from '../names.js';
import type { NetworkRecord } from '../store/records.js';
import { meshPeers, planTunnels, type MeshTunnel } from './mesh-plan.js';
import type { HostView, NetworkIdent } from './types.js';

/** What the mesh works with: the records (which networks are meshes), OVS, the locks shared with the handlers, a log. */
export type MeshContext = Pick<DataplaneContext, 'state' | 'vswitch' | 'locks' | 'log'>;

/** How often the mesh runs without being asked (a missed event is drift for at most this long). */
export const MESH_RESYNC_MS = 30_000;

type MeshRecord = NetworkRecord & { mode: 'vxlan' | 'gre' };

export class Mesh {
  readonly #ctx: MeshContext;
  readonly #view: HostView;
  readonly #self: { readonly hostId: string; readonly underlayIp: string };
  readonly #graceMs: number;
  readonly #countCallbacks: Array<(counts: Record<NetworkIdent, number>) => void> = [];
  #running: Promise<Record<NetworkIdent, number>> | undefined;
  /** the run that follows the one running, shared by every call made meanwhile */
  #queued: Promise<Record<NetworkIdent, number>> | undefined;
  #resync: NodeJS.Timeout | undefined;
  #recheck: NodeJS.Timeout | undefined;
  #started = false;
  /** ms since epoch when start() was called (0 before): tunnels to peers unheard of are kept for graceMs after it */
  #startedAt = 0;
  #closed = false;

  constructor(ctx: MeshContext, view: HostView, self: { hostId: string; underlayIp: string }, graceMs: number) {
    this.#ctx = ctx;
    this.#view = view;
    this.#self = { ...self };
    this.#graceMs = graceMs;
  }

  /**
   * One pass over every mesh network: its tunnel ports made to match the
   * cluster's hosts. Runs one at a time: a call while one runs makes one more
   * run after it (every such call gets that run's result). Never rejects: a
   * network whose change fails is logged and keeps what it had until the next
   * run. Resolves with ident → the network's tunnel ports now. It takes the
   * bridges' locks: never await it from inside a locked section; and like
   * start(), only once the host view has listed the hosts.
   */
  run(): Promise<Record<NetworkIdent, number>> {
    if (this.#queued) return this.#queued;
    if (this.#running) {
      const next = (): Promise<Record<NetworkIdent, number>> => {
        if (this.#queued === queued) this.#queued = undefined;
        return this.run();
      };
      const queued = this.#running.then(next, next);
      this.#queued = queued;
      return queued;
    }
    const running = this.#pass().finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  /**
   * At daemon start, once the host view's start() has resolved (before, the
   * view is empty and a run would remove every tunnel: while etcd is away at
   * boot the tunnels stay as they are): runs now, on every change of the view
   * and every MESH_RESYNC_MS. Kicks before it are ignored.
   */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#startedAt = Date.now();
    this.#view.onChange(() => this.kick('hosts changed'));
    this.#resync = setInterval(() => this.kick('resync'), MESH_RESYNC_MS).unref();
    this.kick('start');
  }

  /** A run soon, for `reason` (logged): the daemon calls it when OVS may have changed under it (OVSDB reconnect). */
  kick(reason: string): void {
    if (this.#closed || !this.#started) return;
    this.#ctx.log.debug({ reason }, 'mesh run');
    void this.#ctx.locks.outside(() => this.run()); // called from a locked section, it waits for that section like any request
  }

  /** `cb` gets each run's counts (ident → tunnel ports): the daemon puts them in the host record (Liveness.update). */
  onCounts(cb: (counts: Record<NetworkIdent, number>) => void): void {
    this.#countCallbacks.push(cb);
  }

  /** At daemon stop: no more runs; resolves once the one in progress is done. The tunnels stay (the data plane never depends on etcd). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#resync);
    clearTimeout(this.#recheck);
    await (this.#queued ?? this.#running);
  }

  async #pass(): Promise<Record<NetworkIdent, number>> {
    const counts: Record<NetworkIdent, number> = {};
    if (this.#closed) return counts; // a run queued before close()
    let recheckAt: number | undefined;
    for (const net of this.#ctx.state.networks()) {
      if (!isMesh(net)) continue;
      const { peers, recheckAt: ends } = meshPeers(this.#view.alive(), this.#view.departed(), this.#self, net.mode, this.#graceMs, Date.now());
      if (ends !== undefined) recheckAt = Math.min(recheckAt ?? ends, ends);
      const wanted = [...peers].map(([hostId, remote]): MeshTunnel => ({
        name: meshTunnelName(net.id, hostId), hostId, remote, type: net.mode, key: String(net.key ?? 0), protected: true,
      }));
      try {
        counts[net.ident ?? net.id] = await this.#apply(net.id, net.bridge, wanted);
      } catch (err) {
        this.#ctx.log.error({ err, network: shortId(net.id), bridge: net.bridge }, 'mesh tunnels not changed; the next run tries again');
        counts[net.ident ?? net.id] = (await this.#actual(net.id, net.bridge).catch(() => [])).length;
      }
    }
    const startGraceEnds = this.#startedAt + this.#graceMs;
    if (startGraceEnds > Date.now()) recheckAt = Math.min(recheckAt ?? startGraceEnds, startGraceEnds);
    this.#scheduleRecheck(recheckAt);
    for (const cb of this.#countCallbacks) {
      try {
        cb(counts);
      } catch (err) {
        this.#ctx.log.error({ err }, 'mesh counts callback failed');
      }
    }
    return counts;
  }

  /** One network's change, holding its bridge's lock (DeleteNetwork removes the record and the tunnels under it). Returns its tunnel count. */
  #apply(networkId: string, bridge: string, wanted: readonly MeshTunnel[]): Promise<number> {
    return this.#ctx.locks.run(bridgeLockKey(bridge), async () => {
      const net = this.#ctx.state.network(networkId);
      if (!net || !isMesh(net) || net.bridge !== bridge) return 0; // deleted meanwhile: its tunnels went with it
      const actual = await this.#actual(networkId, bridge);
      const { add, remove, tunnels } = planTunnels(wanted, actual, (t) => this.#unheardOf(t.hostId));
      if (add.length === 0 && remove.length === 0) return tunnels;
      await this.#ctx.vswitch.syncTunnels(bridge,
        add.map((t) => ({ bridge, name: t.name, type: net.mode, remote: t.remote, key: net.key ?? 0, externalIds: meshTunnelExternalIds(networkId, t.hostId) })),
        remove.map((t) => ({ name: t.name, marks: meshTunnelExternalIds(networkId, t.hostId) })));
      this.#ctx.log.info({
        network: shortId(networkId), bridge, tunnels,
        added: add.map((t) => `${t.hostId}=${t.remote}`), removed: remove.map((t) => t.hostId),
      }, 'mesh tunnels changed');
      return tunnels;
    });
  }

  /**
   * A peer the view has never seen (neither alive nor departed) while the
   * mesh is younger than its grace: a tunnel made before this daemon's start
   * to a host whose key went meanwhile is kept for the grace, as if it had
   * departed at the start (it may be a blip that overlapped the restart).
   */
  #unheardOf(hostId: string): boolean {
    return Date.now() < this.#startedAt + this.#graceMs && !this.#view.alive().has(hostId) && !this.#view.departed().has(hostId);
  }

  /** The network's mesh tunnels OVS has on its bridge. */
  async #actual(networkId: string, bridge: string): Promise<MeshTunnel[]> {
    return (await this.#ctx.vswitch.listOwnedPorts()).flatMap((p) => {
      const peer = meshPeerOf(p.externalIds);
      if (peer?.networkId !== networkId || p.bridge !== bridge) return [];
      return [{ name: p.name, hostId: peer.hostId, remote: p.options['remote_ip'] ?? '', type: p.type, key: p.options['key'] ?? '', protected: p.protected }];
    });
  }

  /** A run when the earliest grace of a departed peer ends (replacing the one scheduled before). */
  #scheduleRecheck(at: number | undefined): void {
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
    if (at === undefined || this.#closed) return;
    this.#recheck = setTimeout(() => this.kick('peer grace ended'), Math.max(0, at - Date.now()) + 10).unref();
  }
}

function isMesh(net: NetworkRecord): net is MeshRecord {
  return net.mesh === true && (net.mode === 'vxlan' || net.mode === 'gre');
}
