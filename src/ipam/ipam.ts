// The IPAM driver: pools and addresses for `--ipam-driver ovsvlan`. Each pool
// is its own address space, so one subnet can serve many VLANs. Changes to a
// pool's record are serialised under its lock (the pool ID), held only for
// local saves: allocations for one pool are serialised under a lock of their
// own (allocLockKey), so a cluster allocation waiting on etcd never holds up
// CreateEndpoint's claim of an address. Every change is persisted before the
// call answers.
import type { Logger } from 'pino';
import { ClusterUnreachableError } from '../cluster/kv.js';
import { ConflictError, InvalidOptionError, NotFoundError, quoted } from '../errors.js';
import type { KeyedMutex } from '../lock.js';
import type { LeaseKind, PoolRecord } from '../store/records.js';
import type { StateCache } from '../store/state.js';
import { format, parseAddress, parsePrefix, reserved, type Prefix } from './address.js';
import { nextFree } from './allocator.js';
import { newPoolId } from './pool-id.js';
import { choosePool, type DefaultRange } from './pools.js';
import { REQUEST_DEADLINE_MS, saveShared, sharedPool, type IpamCluster } from './shared.js';

export interface IpamContext {
  readonly state: StateCache;
  readonly locks: KeyedMutex;
  readonly log: Logger;
  readonly defaults: { v4: DefaultRange; v6: DefaultRange };
  /** Cluster mode: container addresses of shared networks are taken through etcd; absent: local mode. */
  readonly cluster?: IpamCluster;
}

export const LOCAL_ADDRESS_SPACE = 'ovsvlan-local';
export const GLOBAL_ADDRESS_SPACE = 'ovsvlan-global';
const POOLS_LOCK = 'ipam:pools';
/** The lock RequestAddress holds for a pool while it chooses (and, in cluster mode, takes in etcd) an address. */
const allocLockKey = (poolId: string): string => `alloc:${poolId}`;

export interface PoolRequest {
  addressSpace: string;
  pool: string;
  subPool: string;
  v6: boolean;
}

/** RequestPool is invoked by `docker network create` (one call per --subnet, or one with none), before CreateNetwork. */
export async function requestPool(ctx: IpamContext, req: PoolRequest): Promise<{ poolId: string; pool: string }> {
  return ctx.locks.run(POOLS_LOCK, async () => {
    const held = ctx.state.pools().filter((p) => p.v6 === req.v6).map((p) => p.pool);
    const choice = await choosePool(req, held, req.v6 ? ctx.defaults.v6 : ctx.defaults.v4);
    const record: PoolRecord = {
      id: newPoolId(choice.pool.cidr),
      addressSpace: req.addressSpace || LOCAL_ADDRESS_SPACE,
      v6: req.v6,
      pool: choice.pool.cidr,
      subPool: choice.subPool?.cidr,
      networkId: undefined,
      auto: choice.auto,
      lastAllocated: undefined,
      createdAt: Date.now(),
      leases: {},
    };
    await ctx.state.putPool(record);
    ctx.log.info({ pool: record.id, subPool: record.subPool }, 'pool allocated');
    return { poolId: record.id, pool: record.pool };
  });
}

/** ReleasePool is invoked by `docker network rm` after the gateway and aux addresses are released, and on rollback. */
export async function releasePool(ctx: IpamContext, poolId: string): Promise<void> {
  await ctx.locks.run(poolId, async () => {
    const p = ctx.state.pool(poolId);
    if (!p) return;
    await ctx.state.removePool(poolId);
    ctx.log.info({ pool: poolId, leftLeases: Object.keys(p.leases).length }, 'pool released');
  });
}

/**
 * RequestAddress is invoked for the network's gateway (`gateway` true) and
 * --aux-address values at network creation, and for each container endpoint
 * (with --ip, or none to pick one). Returns the address in CIDR form. In
 * cluster mode a container's address on a shared network is taken through
 * etcd first (shared.ts): never one another host holds. The pool's record
 * lock is taken only for the local save; the etcd part ends by the request's
 * deadline (REQUEST_DEADLINE_MS after it arrived), also for requests queued
 * behind one that waits on etcd.
 */
export async function requestAddress(ctx: IpamContext, poolId: string, wanted: string | undefined, gateway: boolean): Promise<string> {
  const deadline = Date.now() + REQUEST_DEADLINE_MS;
  return ctx.locks.run(allocLockKey(poolId), async () => {
    const p = requirePool(ctx, poolId);
    const prefix = prefixOf(p);
    const isTaken = takenCheck(p, prefix);
    const range = p.subPool ? parsePrefix(p.subPool) ?? prefix : prefix;
    const last = p.lastAllocated ? parseAddress(p.lastAllocated)?.value : undefined;
    let value: bigint | undefined;
    if (wanted !== undefined) {
      value = checkWanted(p, prefix, wanted, isTaken);
    } else if (gateway) {
      value = prefix.family === 4 && prefix.bits >= 31 ? prefix.first : prefix.first + 1n;
      if (isTaken(value)) throw new ConflictError(`the default gateway ${format(prefix.family, value)} of pool ${p.pool} is already in use; give --gateway`);
    }
    const shared = gateway ? undefined : sharedPool(ctx.cluster, p);
    if (shared && Date.now() >= deadline) {
      throw new ClusterUnreachableError(`no address allocation within ${REQUEST_DEADLINE_MS / 1000} s: the requests before this one on network ${shared.ident} waited for etcd`);
    }
    const allocation = shared && await shared.cluster.addresses.allocate({ ident: shared.ident, prefix, range, wanted: value, isTakenLocally: isTaken, last, deadline });
    value = allocation?.value ?? value;
    if (value === undefined) {
      value = await nextFree({ range, isTaken, takenCount: () => reserved(prefix).length + Object.keys(p.leases).length, last });
      if (value === undefined) throw new ConflictError(`no free address left in ${range.cidr} (pool ${p.pool}): the pool is exhausted`);
    }
    const address = format(prefix.family, value);
    const kind: LeaseKind = gateway ? 'gateway' : 'pending';
    const save = (): Promise<void> => ctx.locks.run(poolId, async () => {
      requirePool(ctx, poolId); // ReleasePool may have come meanwhile
      await ctx.state.changeLeases(poolId, { [address]: { kind, at: Date.now() } }, wanted === undefined && !gateway ? { lastAllocated: address } : {});
    });
    await (shared && allocation ? saveShared(shared, address, allocation, save) : save());
    ctx.log.debug({ pool: poolId, address, kind, ident: shared?.ident }, 'address leased');
    return `${address}/${prefix.bits}`;
  });
}

/**
 * ReleaseAddress is invoked after DeleteEndpoint, and for the gateway and aux
 * addresses on `docker network rm`. In cluster mode a container's address is
 * then given back in etcd, after the pool's lock (never fails: address sync
 * finishes it; the local journal is the record of the release).
 */
export async function releaseAddress(ctx: IpamContext, poolId: string, address: string): Promise<void> {
  const released = await ctx.locks.run(poolId, async () => {
    const p = ctx.state.pool(poolId);
    const a = parseAddress(address);
    if (!p || !a) return undefined;
    const key = format(a.family, a.value);
    const lease = p.leases[key];
    if (!lease) return;
    // Docker sends DeleteEndpoint before ReleaseAddress: a lease whose endpoint still exists was
    // handed out again since, and this is a late retry of an earlier release
    if (lease.kind === 'endpoint' && lease.endpointId && ctx.state.endpoint(lease.endpointId)) {
      ctx.log.warn({ pool: poolId, address: key, endpoint: lease.endpointId.slice(0, 12) }, 'ReleaseAddress of an address in use by a live endpoint ignored');
      return undefined;
    }
    await ctx.state.changeLeases(poolId, { [key]: undefined });
    const shared = lease.kind === 'pending' || lease.kind === 'endpoint' ? sharedPool(ctx.cluster, p) : undefined;
    ctx.log.debug({ pool: poolId, address: key, ident: shared?.ident }, 'address released');
    return shared && { shared, key };
  });
  if (released) await released.shared.cluster.addresses.release(released.shared.ident, released.key);
}

function checkWanted(p: PoolRecord, prefix: Prefix, wanted: string, isTaken: (v: bigint) => boolean): bigint {
  const a = parseAddress(wanted);
  if (!a || a.family !== prefix.family || a.value < prefix.first || a.value > prefix.last) {
    throw new InvalidOptionError('ip', `address ${quoted(wanted)} is outside the network's subnet ${p.pool}`);
  }
  if (reserved(prefix).includes(a.value)) {
    throw new InvalidOptionError('ip', `address ${wanted} is the network or broadcast address of ${p.pool}`);
  }
  if (isTaken(a.value)) {
    const lease = p.leases[format(a.family, a.value)];
    throw new ConflictError(`address ${wanted} is already in use in ${p.pool}${lease ? ` (${lease.kind === 'endpoint' || lease.kind === 'pending' ? 'by a container' : `as ${lease.kind} address`})` : ''}`);
  }
  return a.value;
}

function requirePool(ctx: IpamContext, poolId: string): PoolRecord {
  const p = ctx.state.pool(poolId);
  if (!p) throw new NotFoundError(`pool ${poolId} is not known to ovsvlan`);
  return p;
}

/**
 * Whether an address is leased or reserved, without parsing every lease
 * (~3 µs each: a pool of 65,536 leases would hold the event loop 0.2 s per
 * request). Lease keys are canonical address text (records.ts).
 */
function takenCheck(p: PoolRecord, prefix: Prefix): (v: bigint) => boolean {
  const held = reserved(prefix);
  return (v) => held.includes(v) || Object.hasOwn(p.leases, format(prefix.family, v));
}

/** Leased addresses plus the network (and IPv4 broadcast) address. */
function takenSet(p: PoolRecord, prefix: Prefix): Set<bigint> {
  const taken = new Set(reserved(prefix));
  for (const a of Object.keys(p.leases)) {
    const v = parseAddress(a);
    if (v) taken.add(v.value);
  }
  return taken;
}

/** An --ip-range up to this size is counted by looking its addresses up, a larger one by reading every lease. */
const WALKED_RANGE = 4096n;

/**
 * The addresses of a pool still to hand out from its range (--ip-range, or
 * the subnet): the range less its reserved and leased addresses. Read at every
 * metrics scrape: without --ip-range every lease is in the range, so no lease
 * is parsed (~7 µs each; a scrape must not stall requests).
 */
export function poolFree(p: PoolRecord): bigint {
  const prefix = prefixOf(p);
  const range = p.subPool ? parsePrefix(p.subPool) : undefined;
  if (!range) {
    const reservedFree = reserved(prefix).filter((v) => !(format(prefix.family, v) in p.leases)).length;
    return prefix.last - prefix.first + 1n - BigInt(reservedFree + Object.keys(p.leases).length);
  }
  const size = range.last - range.first + 1n;
  let taken = 0n;
  // a small --ip-range is walked (64 addresses in a pool of 65,536 leases: 64 look-ups, not 65,536 parses)
  if (size <= WALKED_RANGE) {
    const isTaken = takenCheck(p, prefix);
    for (let v = range.first; v <= range.last; v++) if (isTaken(v)) taken++;
  } else {
    for (const v of takenSet(p, prefix)) if (v >= range.first && v <= range.last) taken++;
  }
  return size - taken;
}

export function prefixOf(p: PoolRecord): Prefix {
  const prefix = parsePrefix(p.pool);
  if (!prefix) throw new Error(`stored pool ${p.id} has an invalid subnet ${p.pool}`);
  return prefix;
}
