// Cluster mode, composed (issue 11): what the daemon opens when OVSVLAN_ETCD
// is set, after the state is loaded. It holds
//   - the Kv on etcd (etcd-kv.ts; this module is imported lazily by the
//     daemon, so etcd3 and gRPC never load in local mode),
//   - this host's liveness record (hosts.ts EtcdLiveness), started in the
//     background and retried while etcd is unreachable: the daemon starts and
//     serves without etcd, allocations fail meanwhile ("etcd unreachable: …"),
//   - the network definitions and cluster-wide addresses the driver and the
//     IPAM use (definitions.ts, addresses.ts),
//   - address sync (address-sync.ts), run once the epoch is known, every 30 s,
//     when etcd answers again after failures, and when a reclaim fences this
//     host; its conflicts go into the liveness record and the log,
//   - the host view and the tunnel mesh (hosts.ts, mesh.ts), started once the
//     view has read the hosts (a mesh run on an empty view would cut tunnels);
//     its tunnel counts go into the liveness record.
// close() stops the loops, stops the liveness record without revoking it (a
// restart is not a departure) and closes the Kv. The data plane stays.
import type { Logger } from 'pino';
import type { KeyedMutex } from '../lock.js';
import type { StateCache } from '../store/state.js';
import type { Vswitch } from '../vswitch/vswitch.js';
import { EtcdAddressSync } from './address-sync.js';
import { EtcdAddresses, type HostSelf } from './addresses.js';
import { EtcdNetworks } from './definitions.js';
import { openEtcdKv } from './etcd-kv.js';
import { EtcdHostView, EtcdLiveness } from './hosts.js';
import { Keys } from './keys.js';
import { ClusterUnreachableError, type Kv, type KvWatch } from './kv.js';
import { localView } from './local-view.js';
import { Mesh } from './mesh.js';
import type { AddressConflict, ClusterAddresses, ClusterNetworks, ClusterSettings } from './types.js';
import { resolveUnderlay } from './underlay.js';
import { WatchfulKv } from './watchful-kv.js';

/** How often address sync runs without being asked. */
export const SYNC_EVERY_MS = 30_000;
/** Retries of the background starts while etcd is unreachable: 1 s doubling to 10 s. */
const RETRY_MS = { initial: 1_000, max: 10_000 };

export interface ClusterDeps {
  readonly state: StateCache;
  readonly vswitch: Vswitch;
  readonly locks: KeyedMutex;
  readonly log: Logger;
  /** ovsvlan's version, and OVS's when known: put in the liveness record */
  readonly version: string;
  readonly ovsVersion?: () => string | undefined;
  /** the Kv to use instead of etcd's (tests); default: openEtcdKv with the settings */
  readonly openKv?: () => Promise<Kv>;
}

/** Cluster mode as the daemon, the driver (DriverCluster) and the IPAM (IpamCluster) use it. */
export interface ClusterMode {
  readonly hostId: string;
  /** this host's tunnel endpoint (OVSVLAN_UNDERLAY_IP, resolved), and the MTU of the interface holding it */
  readonly underlayIp: string;
  readonly underlayMtu: number;
  readonly networks: ClusterNetworks;
  readonly addresses: ClusterAddresses;
  /** A mesh run soon (after a reconciliation, an OVSDB reconnect); nothing until the host view has read the hosts. */
  kickMesh(reason: string): void;
  close(): Promise<void>;
}

/**
 * Opens cluster mode at daemon start, after the state is loaded: resolves the
 * underlay address (a ConfigError when there is none), opens the Kv (a
 * ConfigError when a TLS file cannot be read) and starts everything else in
 * the background. Resolves without waiting for etcd.
 */
export async function openCluster(settings: ClusterSettings, deps: ClusterDeps): Promise<ClusterMode> {
  const log = deps.log;
  const underlay = await resolveUnderlay(settings.underlayIp);
  let sync = (reason: string): void => void reason; // replaced once address sync exists
  const raw = deps.openKv ? await deps.openKv()
    : await openEtcdKv({ endpoints: settings.endpoints, ca: settings.ca, cert: settings.cert, key: settings.key, log });
  const kv = new WatchfulKv(raw, () => sync('etcd answers again'));
  const keys = new Keys(settings.prefix);
  const hostId = settings.hostId;
  const liveness = new EtcdLiveness(kv, keys, () => ({
    id: hostId,
    underlayIp: underlay.ip,
    encapsulations: ['vxlan', 'gre'],
    mtu: underlay.mtu,
    versions: versionsOf(deps),
  }), log.child({ part: 'liveness' }));
  let live = false;
  // the epoch is this host's once its record is put (a start that failed half-way may have bumped it already)
  const self: HostSelf = { hostId, epoch: () => (live ? liveness.epoch : undefined) };
  const networks = new EtcdNetworks(kv, keys, hostId);
  const addresses = new EtcdAddresses(kv, keys, self, networks);
  const addressSync = new EtcdAddressSync(kv, keys, self, localView(deps.state), addresses, networks, log.child({ part: 'address-sync' }));
  const view = new EtcdHostView(kv, keys, log.child({ part: 'hosts' }));
  const mesh = new Mesh({ state: deps.state, vswitch: deps.vswitch, locks: deps.locks, log: log.child({ part: 'mesh' }) },
    view, { hostId, underlayIp: underlay.ip }, settings.meshGraceMs);
  mesh.onCounts((tunnels) => liveness.update({ tunnels })); // put again only when they changed (hosts.ts)

  let closed = false;
  let meshStarted = false;
  let fenceWatch: KvWatch | undefined;
  const conflicts = new ConflictLog(log);
  sync = (reason) => {
    if (closed || self.epoch() === undefined) return;
    log.debug({ reason }, 'address sync');
    addressSync.run().then((report) => {
      liveness.update({ conflicts: report.conflicts });
      conflicts.report(report.conflicts);
    }, (err: unknown) => {
      if (closed) return; // the Kv closed under a pass at daemon stop: nothing to report
      if (err instanceof ClusterUnreachableError) log.debug({ err: err.message, reason }, 'address sync waits for etcd');
      else log.error({ err, reason }, `address sync failed: ${(err as Error).message}; tried again in ${SYNC_EVERY_MS / 1000} s`);
    });
  };
  /** A reclaim of this host (its fence put) runs address sync at once: its addresses are restored or reported. */
  const watchFence = async (): Promise<void> => {
    const key = keys.fence(hostId);
    const { revision } = await kv.range(key);
    fenceWatch = await kv.watch(key, revision + 1, {
      onEvents: (events) => {
        if (events.some((e) => e.key === key && e.type === 'put')) sync('fenced by a reclaim');
      },
      onReset: () => {
        fenceWatch = undefined; // watched again at the next periodic pass
      },
    });
  };
  const every = setInterval(() => {
    if (!fenceWatch && self.epoch() !== undefined) watchFence().catch(() => undefined);
    sync('periodic');
  }, SYNC_EVERY_MS).unref();

  const retry = new Retrier(log, () => closed);
  const livenessStarting = retry.until('liveness record', () => liveness.start()).then((ok) => {
    if (!ok) return;
    live = true;
    sync('start');
    watchFence().catch(() => undefined);
  });
  const viewStarting = retry.until('host view', () => view.start()).then((ok) => {
    if (!ok || closed) return;
    meshStarted = true;
    mesh.start();
  });
  log.info({ host: hostId, underlayIp: underlay.ip, underlayDev: underlay.dev, underlayMtu: underlay.mtu, endpoints: settings.endpoints,
    prefix: settings.prefix }, 'cluster mode: etcd opened, joining in the background');

  return {
    hostId,
    underlayIp: underlay.ip,
    underlayMtu: underlay.mtu,
    networks,
    addresses,
    kickMesh: (reason) => {
      if (meshStarted && !closed) mesh.kick(reason);
    },
    close: async () => {
      closed = true;
      clearInterval(every);
      retry.cancel();
      await Promise.all([livenessStarting, viewStarting]); // a start under way ends first (each Kv call has its deadline)
      await fenceWatch?.close().catch(() => undefined);
      await mesh.close();
      await view.close();
      await liveness.stop();
      await kv.close();
    },
  };
}

function versionsOf(deps: ClusterDeps): Record<string, string> {
  const ovs = deps.ovsVersion?.();
  return ovs ? { ovsvlan: deps.version, ovs } : { ovsvlan: deps.version };
}

/** Calls a start function until it resolves, waiting 1 s doubling to 10 s between tries, until the cluster closes. */
class Retrier {
  readonly #log: Logger;
  readonly #closed: () => boolean;
  readonly #waits = new Map<NodeJS.Timeout, () => void>();

  constructor(log: Logger, closed: () => boolean) {
    this.#log = log;
    this.#closed = closed;
  }

  /** Resolves true once `start` resolved, false when the cluster closed first. Never rejects. */
  async until(what: string, start: () => Promise<void>): Promise<boolean> {
    for (let wait = RETRY_MS.initial, tries = 1; !this.#closed(); wait = Math.min(wait * 2, RETRY_MS.max), tries++) {
      try {
        await start();
        if (tries > 1) this.#log.info({ tries }, `cluster mode: ${what} started`);
        return !this.#closed();
      } catch (err) {
        const message = (err as Error).message;
        if (tries === 1 || tries % 10 === 0) this.#log.warn({ err: message, tries, retryMs: wait }, `cluster mode: ${what} not started yet: ${message}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waits.delete(timer);
          resolve();
        }, wait).unref();
        this.#waits.set(timer, resolve);
      });
    }
    return false;
  }

  /** Ends the waits now (the loops see the cluster closed and stop). */
  cancel(): void {
    for (const [timer, resolve] of this.#waits) {
      clearTimeout(timer);
      resolve();
    }
    this.#waits.clear();
  }
}

/** Logs each address conflict once (rule address-conflict), and when the conflicts are gone. */
class ConflictLog {
  readonly #log: Logger;
  #known = new Set<string>();

  constructor(log: Logger) {
    this.#log = log;
  }

  report(conflicts: readonly AddressConflict[]): void {
    const now = new Set<string>();
    for (const c of conflicts) {
      const id = `${c.ident}/${c.address}/${c.heldBy}`;
      now.add(id);
      if (!this.#known.has(id)) {
        this.#log.warn({ rule: 'address-conflict', network: c.ident, address: c.address, heldBy: c.heldBy },
          `address ${c.address} of a container on this host (network ${c.ident}) is held in etcd by host ${c.heldBy}: it is not taken back; move or restart the container`);
      }
    }
    if (this.#known.size > 0 && now.size === 0) this.#log.info('address conflicts resolved');
    this.#known = now;
  }
}
