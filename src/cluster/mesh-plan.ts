// What the tunnel mesh wants of one network, and what to change to get there
// (pure): mesh.ts feeds it the host view and the ports OVS has, and applies
// the plan in one OVSDB transaction.
import type { HostRecord } from './types.js';

/** A tunnel port of a mesh network, as wanted or as OVS has it. */
export interface MeshTunnel {
  /** names.ts meshTunnelName(network, hostId) */
  readonly name: string;
  /** the peer's host id (its PEER_KEY mark) */
  readonly hostId: string;
  /** the peer's underlay address (options:remote_ip) */
  readonly remote: string;
  readonly type: string;
  /** VNI or GRE key, as OVS's options:key has it (decimal text) */
  readonly key: string;
  /** tunnels never forward to each other (split horizon) */
  readonly protected: boolean;
}

export interface Peers {
  /** host id → underlay address: the peers a mesh network of this encapsulation has tunnels to */
  readonly peers: ReadonlyMap<string, string>;
  /** the earliest instant (ms since epoch) a departed peer's grace ends, when one is still kept: run again then */
  readonly recheckAt: number | undefined;
}

/**
 * The peers of a mesh network of encapsulation `mode`: every alive host but
 * this one that lists `mode`, and each departed one whose `alive` key went
 * less than `graceMs` ago (a lease blip must not cut traffic). A host with no
 * underlay address, with this host's, or with one an alive host (or a peer
 * earlier in id order) already has is left out: two tunnels to one address
 * would be one too many (a re-installed host under a new id, a copied id).
 */
export function meshPeers(
  alive: ReadonlyMap<string, HostRecord>,
  departed: ReadonlyMap<string, { readonly record: HostRecord; readonly since: number }>,
  self: { readonly hostId: string; readonly underlayIp: string },
  mode: 'vxlan' | 'gre',
  graceMs: number,
  now: number,
): Peers {
  const peers = new Map<string, string>();
  const used = new Set<string>([self.underlayIp]);
  const consider = (id: string, record: HostRecord): void => {
    if (id === self.hostId || !record.encapsulations.includes(mode) || record.underlayIp === '' || used.has(record.underlayIp)) return;
    used.add(record.underlayIp);
    peers.set(id, record.underlayIp);
  };
  for (const id of [...alive.keys()].sort()) consider(id, alive.get(id) as HostRecord);
  let recheckAt: number | undefined;
  for (const id of [...departed.keys()].sort()) {
    const { record, since } = departed.get(id) as { record: HostRecord; since: number };
    const ends = since + graceMs;
    if (ends <= now) continue;
    consider(id, record);
    recheckAt = Math.min(recheckAt ?? ends, ends);
  }
  return { peers, recheckAt };
}

export interface TunnelPlan {
  /** new tunnels, and those to replace (another remote, type or key) */
  readonly add: readonly MeshTunnel[];
  /** tunnels to peers no longer wanted */
  readonly remove: readonly MeshTunnel[];
  /** how many tunnels the network has once the plan is applied */
  readonly tunnels: number;
}

/**
 * The difference between the tunnels wanted and those OVS has, by port name.
 * A tunnel OVS has that is not wanted is removed unless `keep` says otherwise
 * (the mesh keeps those to peers it has not heard of yet, for a grace after
 * its start).
 */
export function planTunnels(wanted: readonly MeshTunnel[], actual: readonly MeshTunnel[], keep: (t: MeshTunnel) => boolean = () => false): TunnelPlan {
  const want = new Map(wanted.map((t) => [t.name, t]));
  const have = new Map(actual.map((t) => [t.name, t]));
  const unwanted = actual.filter((a) => !want.has(a.name));
  const remove = unwanted.filter((a) => !keep(a));
  return {
    add: wanted.filter((w) => !sameTunnel(w, have.get(w.name))),
    remove,
    tunnels: wanted.length + unwanted.length - remove.length,
  };
}

function sameTunnel(a: MeshTunnel, b: MeshTunnel | undefined): boolean {
  return b !== undefined && a.hostId === b.hostId && a.remote === b.remote && a.type === b.type && a.key === b.key && a.protected === b.protected;
}
