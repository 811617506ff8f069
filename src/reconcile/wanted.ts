// What the records ask of OVS, port by port (pure): each endpoint's access
// port, each overlay's tunnel ports, each host_ip's internal port, and each
// bridge's trunk uplink with the VLANs its networks need. `ovsvlan status`
// compares OVS with it to report drift; reconciliation removes the ports of
// ovsvlan's that it does not list. Spares (random names, any number) are not
// listed: a spare port or veth of a live network is wanted by its pool
// (isWantedSpare, isOrphanLink), one of a gone network is not. Nor are a
// cluster mesh's tunnels (one per live peer, cluster/mesh.ts): the mesh owns
// them (isMeshTunnel).
import { ENDPOINT_KEY, isOurLinkName, meshPeerOf, NETWORK_KEY, portNamesOf, ROLE_KEY, spareNetworkOf, type PortRole } from '../names.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';
import { isSparePort } from '../dataplane/owned.js';

export interface WantedPort {
  name: string;
  role: PortRole;
  bridge: string;
  /** the access tag (endpoint and host ports of VLAN networks); undefined: untagged */
  tag: number | undefined;
  /** uplinks: VLANs the trunk must carry */
  trunks: number[];
  /** the network it serves (for an uplink: the first network that names it) */
  networkId: string;
  endpointId: string | undefined;
}

export function wantedPorts(networks: readonly NetworkRecord[], endpoints: readonly EndpointRecord[]): Map<string, WantedPort> {
  const out = new Map<string, WantedPort>();
  const byId = new Map(networks.map((n) => [n.id, n]));
  const put = (p: Omit<WantedPort, 'trunks' | 'endpointId'> & Partial<WantedPort>): void => {
    out.set(p.name, { trunks: [], endpointId: undefined, ...p });
  };
  for (const ep of endpoints) {
    const net = byId.get(ep.networkId);
    if (net) put({ name: ep.hostIf, role: 'endpoint', bridge: net.bridge, tag: net.vlan, networkId: net.id, endpointId: ep.id });
  }
  for (const net of networks) {
    const names = portNamesOf(net);
    if (net.mode !== 'vlan') names.tunnels.forEach((name) => put({ name, role: 'tunnel', bridge: net.bridge, tag: undefined, networkId: net.id }));
    if (names.host) put({ name: names.host, role: 'host', bridge: net.bridge, tag: net.vlan, networkId: net.id });
    if (net.mode === 'vlan' && net.uplink && !out.has(net.uplink)) {
      const vlans = networks.filter((n) => n.mode === 'vlan' && n.bridge === net.bridge && n.vlan !== undefined)
        .map((n) => n.vlan as number);
      put({ name: net.uplink, role: 'uplink', bridge: net.bridge, tag: net.nativeVlan, trunks: [...new Set(vlans)].sort((a, b) => a - b), networkId: net.id });
    }
  }
  return out;
}

/**
 * Whether an OVS port marked as ovsvlan's is one the records want. An
 * endpoint's port on the wrong bridge or tag is still wanted (it is repaired,
 * not removed), if it carries that endpoint's mark; a network's own port must
 * carry that network's marks. A port of the right name with another's marks
 * (a name collision) is not wanted.
 */
export function isWantedPort(wanted: ReadonlyMap<string, WantedPort>, port: { name: string; bridge: string | undefined; externalIds: Record<string, string> }): boolean {
  const w = wanted.get(port.name);
  if (!w) return false;
  if (w.role === 'endpoint') return port.externalIds[ENDPOINT_KEY] === w.endpointId;
  if (port.externalIds[ROLE_KEY] !== w.role) return false;
  return w.role === 'uplink' ? w.bridge === port.bridge : w.networkId === port.externalIds[NETWORK_KEY];
}

/** A spare port (ovsvlan-role=spare) of a live network: its pool's, not an orphan. */
export function isWantedSpare(port: { externalIds: Record<string, string> }, liveNetworks: ReadonlySet<string>): boolean {
  return isSparePort(port) && liveNetworks.has(port.externalIds[NETWORK_KEY] ?? '');
}

/** Network ID → bridge of each mesh network (cluster mode, overlays without remote=), for isMeshTunnel. */
export function meshBridges(networks: readonly NetworkRecord[]): Map<string, string> {
  return new Map(networks.filter((n) => n.mesh === true && n.mode !== 'vlan').map((n) => [n.id, n.bridge]));
}

/**
 * A tunnel port marked with a peer (names.ts meshPeerOf) on the bridge of its
 * mesh network (`mesh`: meshBridges): the mesh's own, which adds and removes
 * them as hosts come and go; reconciliation leaves it alone, status calls it
 * no drift. One of a gone network, or on another bridge, is an orphan.
 */
export function isMeshTunnel(port: { bridge: string | undefined; externalIds: Record<string, string> }, mesh: ReadonlyMap<string, string>): boolean {
  const peer = meshPeerOf(port.externalIds);
  return peer !== undefined && port.bridge !== undefined && mesh.get(peer.networkId) === port.bridge;
}

/** The link names endpoint records hold (both ends of each), for isOrphanLink. */
export function recordedLinks(endpoints: ReadonlyArray<{ hostIf: string; containerIf: string }>): Set<string> {
  return new Set(endpoints.flatMap((e) => [e.hostIf, e.containerIf]));
}

/** A veth named like ovsvlan's (ovh/ovc + 12 hex) that no endpoint record has (`recorded`: recordedLinks), and that is no spare of a network in `liveNetworks`. */
export function isOrphanLink(link: { name: string; kind: string | undefined; alias?: string | undefined },
  recorded: ReadonlySet<string>, liveNetworks: ReadonlySet<string> = new Set()): boolean {
  if (link.kind !== 'veth' || !isOurLinkName(link.name) || recorded.has(link.name)) return false;
  return !liveNetworks.has(spareNetworkOf(link.alias) ?? '');
}
