// Ties IPAM leases to the network driver's records, so that reconciliation
// can tell a lease in use from a leaked one. Docker never tells the IPAM which
// network or endpoint an address is for: CreateNetwork and CreateEndpoint do.
import { canonicalAddress, contains, parsePrefix } from './address.js';
import { ConflictError } from '../errors.js';
import type { LeaseRecord, PoolRecord } from '../store/records.js';
import type { StateCache } from '../store/state.js';
import { shortId } from '../names.js';
import type { IpamContext } from './ipam.js';
import type { IpamPool } from '../model.js';

/**
 * Called on CreateNetwork: the unbound pool with that subnet whose leases
 * hold the network's gateway becomes the network's, and its --aux-address
 * leases are marked as such. The network's `host_ip` (a CIDR), when inside
 * one of its ovsvlan pools, is leased there as the host's, so that no
 * container is handed the host's address; one already handed to a container
 * is refused (ConflictError naming host_ip) before any pool is changed.
 */
export async function bindNetwork(ctx: IpamContext, networkId: string, pools: readonly IpamPool[], hostIp?: string): Promise<void> {
  const held = pools.map((np) => ({ np, p: poolOfNetwork(ctx.state, networkId, np) }))
    .filter((x): x is { np: IpamPool; p: PoolRecord } => x.p !== undefined); // the others use another IPAM driver
  const host = canonicalAddress(hostIp);
  const hostPool = host === undefined ? undefined : held.find(({ p }) => holds(p.pool, host))?.p;
  const taken = hostPool && host ? hostPool.leases[host] : undefined;
  // an --aux-address is handed out like a container's address (pending) until this bind marks it
  const aux = new Set(held.flatMap(({ np }) => Object.values(np.aux).map(canonicalAddress)));
  if (taken && (taken.kind === 'pending' || taken.kind === 'endpoint') && !aux.has(host)) {
    throw new ConflictError(`option "host_ip": ${host} is already in use in ${hostPool?.pool} (by a container); give the host another address, `
      + 'or keep it from containers with --aux-address host=ADDRESS');
  }
  for (const { np, p } of held) {
    await ctx.locks.run(p.id, async () => {
      const cur = ctx.state.pool(p.id); // as it is now: a call for this pool may have changed it while we waited
      if (!cur) return;
      const leases: Record<string, LeaseRecord> = {};
      for (const cidrAux of Object.values(np.aux)) {
        const key = canonicalAddress(cidrAux);
        const lease = key ? cur.leases[key] : undefined;
        if (key && lease) leases[key] = { ...lease, kind: 'aux' };
      }
      // the host's address, unless the gateway, an aux address or an earlier bind already holds it
      if (host && p === hostPool && !cur.leases[host] && !leases[host]) leases[host] = { kind: 'host', at: Date.now() };
      await ctx.state.changeLeases(cur.id, leases, { networkId });
    });
  }
}

/** How reconciliation reports the host's lease: added (host-lease-missing), or held by a container (host-ip-taken). */
export type HostLeaseReport = (rule: 'host-lease-missing' | 'host-ip-taken', fields: Record<string, unknown>) => void;

/**
 * Called by reconciliation for each pool of a network with a `host_ip`: a
 * network made before its host_ip was leased (by an older ovsvlan; only
 * bindNetwork leases it) gets the `host` lease a new one has, when the pool
 * holds the address and no lease has it (host-lease-missing), so that no
 * container is handed the host's address. One a container holds (handed out
 * or claimed) is left to it and reported each run (host-ip-taken): the
 * operator moves the container or gives the host another address.
 */
export async function ensureHostLease(state: StateCache, pool: PoolRecord, hostIp: string, report: HostLeaseReport): Promise<void> {
  const host = canonicalAddress(hostIp);
  if (!host || !pool.networkId || !holds(pool.pool, host)) return;
  const lease = pool.leases[host];
  const fields = { pool: pool.id, network: shortId(pool.networkId), address: host };
  if (!lease) {
    report('host-lease-missing', fields);
    await state.changeLeases(pool.id, { [host]: { kind: 'host', at: Date.now() } });
  } else if (lease.kind === 'pending' || lease.kind === 'endpoint') {
    report('host-ip-taken', { ...fields, endpoint: lease.endpointId ? shortId(lease.endpointId) : undefined });
  }
}

/** Whether subnet `cidr` holds `address`. */
function holds(cidr: string, address: string): boolean {
  const outer = parsePrefix(cidr);
  const inner = parsePrefix(`${address}/${address.includes(':') ? 128 : 32}`);
  return outer !== undefined && inner !== undefined && contains(outer, inner);
}

/**
 * Called by CreateNetwork in cluster mode, before anything is made: the
 * network's subnets that no ovsvlan pool holds (Docker's default IPAM or
 * another IPAM driver gave them), found as bindNetwork finds its pools.
 */
export function unheldSubnets(ctx: IpamContext, networkId: string, pools: readonly IpamPool[]): string[] {
  return pools.filter((np) => !poolOfNetwork(ctx.state, networkId, np)).map((np) => np.pool);
}

/**
 * The ovsvlan pool that holds network pool `np` of network `networkId`: the
 * one bound to it, else the unbound pool of that subnet whose leases hold its
 * gateway, else the newest unbound one; undefined when none (another IPAM).
 */
function poolOfNetwork(state: StateCache, networkId: string, np: IpamPool): PoolRecord | undefined {
  const cidr = parsePrefix(np.pool)?.cidr;
  const gw = canonicalAddress(np.gateway);
  const candidates = state.pools().filter((p) => p.pool === cidr && (p.networkId === undefined || p.networkId === networkId));
  // Docker's RequestPool comes right before CreateNetwork: prefer the newest unbound pool over a stale one
  const newest = [...candidates].sort((x, y) => y.createdAt - x.createdAt);
  return candidates.find((c) => c.networkId === networkId) ?? newest.find((c) => gw === undefined || c.leases[gw]) ?? newest[0];
}

/** Called on CreateEndpoint: the endpoint's addresses become its leases. */
export async function claimAddresses(ctx: IpamContext, networkId: string, endpointId: string, addresses: readonly (string | undefined)[]): Promise<void> {
  for (const cidr of addresses) {
    const key = canonicalAddress(cidr);
    if (!key) continue;
    const p = ctx.state.pools().find((c) => c.networkId === networkId && c.leases[key]);
    if (!p) continue;
    await ctx.locks.run(p.id, async () => {
      const cur = ctx.state.pool(p.id);
      // only an address handed out and not yet claimed: never take over another endpoint's lease
      if (!cur || cur.leases[key]?.kind !== 'pending') return;
      await ctx.state.changeLeases(cur.id, { [key]: { kind: 'endpoint', endpointId, at: Date.now() } });
    });
  }
}

/**
 * Called when DeleteNetwork removed endpoints ovsvlan still held for the
 * network (stale, after a crash): their leases in the network's pools are freed.
 */
export async function releaseEndpoints(ctx: IpamContext, networkId: string, endpointIds: readonly string[]): Promise<void> {
  const gone = new Set(endpointIds);
  for (const p of gone.size > 0 ? ctx.state.pools().filter((c) => c.networkId === networkId) : []) {
    await ctx.locks.run(p.id, async () => {
      const cur = ctx.state.pool(p.id);
      const freed = Object.entries(cur?.leases ?? {}).filter(([, l]) => l.kind === 'endpoint' && gone.has(l.endpointId ?? ''));
      if (cur && freed.length > 0) await ctx.state.changeLeases(cur.id, Object.fromEntries(freed.map(([a]) => [a, undefined])));
    });
  }
}

/** What reconciliation knows of Docker's containers (reconcile/docker.ts DockerView): their addresses on ovsvlan's networks. */
export interface DockerAddresses {
  /** networkId → its endpoints (addresses without mask), or null when Docker has no such network */
  readonly networks: ReadonlyMap<string, ReadonlyArray<{ readonly addresses: readonly string[] }> | null>;
}

/** How reconciliation reports a lease it frees: the rule (lease-orphan, lease-leaked) and what to log. */
export type LeaseReport = (rule: 'lease-orphan' | 'lease-leaked', fields: Record<string, unknown>) => void;

/**
 * Called by reconciliation (no request in flight) for each pool: frees the
 * leases of endpoints that are gone (lease-orphan), and the addresses handed
 * out that no endpoint claimed and Docker does not use, older than `graceMs`
 * (lease-leaked; one still younger is told to `youngUntil` with the time its
 * grace ends, so that reconciliation looks again then). `docker` undefined:
 * Docker was not read, only the first rule applies. An address any container of any ovsvlan network still has is
 * never freed: networks sharing a subnet created at the same instant may have
 * been bound to each other's pools (Docker does not say which pool a network uses).
 */
export async function freeStaleLeases(state: StateCache, pool: PoolRecord, docker: DockerAddresses | undefined, graceMs: number,
  report: LeaseReport, youngUntil: (at: number) => void = () => undefined): Promise<void> {
  const inDocker = docker ? new Set([...docker.networks.values()].flatMap((eps) => eps ?? []).flatMap((d) => d.addresses)) : undefined;
  const freed: Record<string, undefined> = {};
  let count = 0;
  for (const [address, lease] of Object.entries(pool.leases)) {
    const orphan = lease.kind === 'endpoint' && !state.endpoint(lease.endpointId ?? '') && !inDocker?.has(address);
    const unused = lease.kind === 'pending' && pool.networkId !== undefined && inDocker !== undefined && !inDocker.has(address);
    const leaked = unused && Date.now() - lease.at > graceMs;
    if (unused && !leaked) youngUntil(lease.at + graceMs + 1);
    if (!orphan && !leaked) continue;
    report(orphan ? 'lease-orphan' : 'lease-leaked', { pool: pool.id, address, endpoint: shortId(lease.endpointId ?? '') });
    freed[address] = undefined;
    count++;
  }
  if (count > 0) await state.changeLeases(pool.id, freed);
}
