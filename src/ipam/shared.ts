// Cluster mode in the IPAM: the addresses of a pool bound to a network that
// has a cluster identity (NetworkRecord.ident) are taken cluster-wide through
// etcd (cluster/addresses.ts) before the local lease is saved, and given back
// there after the local lease is gone. Gateways and --aux-address values stay
// local: they are the definition's, the same on every host.
import type { Allocation, ClusterAddresses, NetworkIdent } from '../cluster/types.js';
import type { PoolRecord } from '../store/records.js';

/**
 * How long after its arrival a RequestAddress on a shared network may wait for
 * etcd (including behind other requests of its pool) before it fails: issue 11
 * wants a failure within 5 s; the rest is left for the answer to reach Docker.
 */
export const REQUEST_DEADLINE_MS = 4_500;

/** What the IPAM needs of cluster mode (IpamContext.cluster; absent in local mode). */
export interface IpamCluster {
  readonly addresses: ClusterAddresses;
  /** The cluster identity of a network of this host, or undefined for a network of this host alone. */
  identOf(networkId: string): NetworkIdent | undefined;
}

/** A pool whose container addresses are the cluster's: its network's identity, and where to take them. */
export interface SharedPool {
  readonly cluster: IpamCluster;
  readonly ident: NetworkIdent;
}

/** Whether pool `p`'s container addresses are taken through etcd: undefined in local mode, for an unbound pool or a network of this host alone. */
export function sharedPool(cluster: IpamCluster | undefined, p: PoolRecord): SharedPool | undefined {
  const ident = cluster && p.networkId !== undefined ? cluster.identOf(p.networkId) : undefined;
  return cluster && ident !== undefined ? { cluster, ident } : undefined;
}

/**
 * Saves the local lease of an address `allocation` took in etcd (`save`), then
 * settles the allocation. When the local save fails, the address is given
 * back in etcd before it settles, and the error is rethrown: no key of this
 * host is left without its lease. Called by requestAddress inside the pool's allocation lock
 * (`save` takes the pool's record lock itself).
 */
export async function saveShared(shared: SharedPool, address: string, allocation: Allocation, save: () => Promise<void>): Promise<void> {
  try {
    await save();
  } catch (err) {
    await shared.cluster.addresses.release(shared.ident, address);
    throw err;
  } finally {
    allocation.settle();
  }
}
