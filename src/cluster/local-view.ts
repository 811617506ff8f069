// What address sync reads of this host (types.ts LocalView), from the records:
// the networks that have a cluster identity, each as the spec it joined with
// (rebuilt from the network record and the pools bound to it), and the
// container addresses those pools hold. Read afresh at each call.
import { parsePrefix } from '../ipam/address.js';
import type { NetworkRecord, PoolRecord } from '../store/records.js';
import type { StateCache } from '../store/state.js';
import type { LocalView, NetworkIdent, SharedSpec } from './types.js';

type SharedRecord = NetworkRecord & { readonly ident: NetworkIdent };

/** The LocalView of the records in `state`; built once by openCluster. */
export function localView(state: StateCache): LocalView {
  const shared = (): SharedRecord[] => state.networks().filter((n): n is SharedRecord => n.ident !== undefined);
  const poolsOf = (): Map<string, PoolRecord[]> => {
    const by = new Map<string, PoolRecord[]>();
    for (const p of state.pools()) if (p.networkId !== undefined) by.set(p.networkId, [...(by.get(p.networkId) ?? []), p]);
    return by;
  };
  return {
    networks: () => {
      const pools = poolsOf();
      return new Map(shared().map((n) => [n.ident, specOf(n, pools.get(n.id) ?? [])]));
    },
    held: () => {
      const pools = poolsOf();
      const out = new Map<NetworkIdent, Set<string>>();
      for (const n of shared()) {
        const set = out.get(n.ident) ?? new Set<string>();
        for (const p of pools.get(n.id) ?? []) {
          for (const [address, lease] of Object.entries(p.leases)) if (lease.kind === 'pending' || lease.kind === 'endpoint') set.add(address);
        }
        out.set(n.ident, set);
      }
      return out;
    },
  };
}

/**
 * The spec a network joined with, as CreateNetwork built it (driver/shared.ts
 * sharedSpecOf): subnets as recorded (IPv4 first), the gateway of each from
 * its pool's gateway lease (or the recorded one of its family), aux addresses
 * from the pools' aux leases, and the MTU the definition agreed.
 */
function specOf(n: SharedRecord, pools: readonly PoolRecord[]): SharedSpec {
  const subnets = (n.subnets ?? []).map((s) => parsePrefix(s)?.cidr ?? s);
  const recorded = { v4: n.gatewayV4, v6: n.gatewayV6 };
  const gateways = subnets.map((cidr) => {
    const pool = pools.find((p) => p.pool === cidr);
    const fromLease = pool && Object.entries(pool.leases).find(([, l]) => l.kind === 'gateway')?.[0];
    const family = cidr.includes(':') ? 'v6' : 'v4';
    const gw = fromLease ?? (subnets.find((s) => s.includes(':') === (family === 'v6')) === cidr ? recorded[family] : undefined);
    return gw ?? '';
  });
  const aux = pools.flatMap((p) => Object.entries(p.leases).filter(([, l]) => l.kind === 'aux').map(([a]) => a)).sort();
  return {
    ident: n.ident,
    mode: n.mode,
    tag: (n.mode === 'vlan' ? n.vlan : n.key) ?? 0,
    subnets,
    gateways,
    aux,
    mtu: n.mtu,
    mtuExplicit: false,
    internal: n.internal,
    mesh: n.mesh === true,
  };
}
