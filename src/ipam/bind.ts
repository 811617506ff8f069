// Ties IPAM leases to the network driver's records, so that reconciliation
// can tell a lease in use from a leaked one. Docker never tells the IPAM which
// network or endpoint an address is for: CreateNetwork and CreateEndpoint do.
import { parseAddress, format, parsePrefix } from './address.js';
import { changedPool, type LeaseRecord } from '../store/records.js';
import type { IpamContext } from './ipam.js';

export interface NetworkPool {
  /** CIDR as in CreateNetwork's IPv4Data/IPv6Data */
  pool: string;
  /** CIDR of the gateway, when there is one */
  gateway: string | undefined;
  /** --aux-address name → CIDR */
  aux: Record<string, string>;
}

/**
 * Called on CreateNetwork: the unbound pool with that subnet whose leases
 * hold the network's gateway becomes the network's, and its --aux-address
 * leases are marked as such.
 */
export async function bindNetwork(ctx: IpamContext, networkId: string, pools: readonly NetworkPool[]): Promise<void> {
  for (const np of pools) {
    const cidr = parsePrefix(np.pool)?.cidr;
    const gw = addressKey(np.gateway);
    const candidates = ctx.state.pools().filter((p) => p.pool === cidr && (p.networkId === undefined || p.networkId === networkId));
    // Docker's RequestPool comes right before CreateNetwork: prefer the newest unbound pool over a stale one
    const newest = [...candidates].sort((x, y) => y.createdAt - x.createdAt);
    const p = candidates.find((c) => c.networkId === networkId) ?? newest.find((c) => gw === undefined || c.leases[gw]) ?? newest[0];
    if (!p) continue; // the network uses another IPAM driver
    await ctx.locks.run(p.id, async () => {
      const cur = ctx.state.pool(p.id); // as it is now: a call for this pool may have changed it while we waited
      if (!cur) return;
      const aux: Record<string, LeaseRecord> = {};
      for (const cidrAux of Object.values(np.aux)) {
        const key = addressKey(cidrAux);
        const lease = key ? cur.leases[key] : undefined;
        if (key && lease) aux[key] = { ...lease, kind: 'aux' };
      }
      await ctx.state.putPool(changedPool(cur, aux, { networkId }));
    });
  }
}

/** Called on CreateEndpoint: the endpoint's addresses become its leases. */
export async function claimAddresses(ctx: IpamContext, networkId: string, endpointId: string, addresses: readonly (string | undefined)[]): Promise<void> {
  for (const cidr of addresses) {
    const key = addressKey(cidr);
    if (!key) continue;
    const p = ctx.state.pools().find((c) => c.networkId === networkId && c.leases[key]);
    if (!p) continue;
    await ctx.locks.run(p.id, async () => {
      const cur = ctx.state.pool(p.id);
      // only an address handed out and not yet claimed: never take over another endpoint's lease
      if (!cur || cur.leases[key]?.kind !== 'pending') return;
      await ctx.state.putPool(changedPool(cur, { [key]: { kind: 'endpoint', endpointId, at: Date.now() } }));
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
      if (cur && freed.length > 0) await ctx.state.putPool(changedPool(cur, Object.fromEntries(freed.map(([a]) => [a, undefined]))));
    });
  }
}

/** Canonical address text of a CIDR or plain address. */
function addressKey(cidrOrAddress: string | undefined): string | undefined {
  if (!cidrOrAddress) return undefined;
  const a = parseAddress(cidrOrAddress.split('/')[0] ?? '');
  return a ? format(a.family, a.value) : undefined;
}
