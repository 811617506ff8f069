// `ovsvlan status` as data (pure): the networks and endpoints of the records,
// what OVS and the kernel have of them, and the drift between the three; in
// cluster mode, the cluster as etcd has it.
import { NETWORK_KEY, OWNER_KEY, OWNER_VALUE, ROLE_KEY, shortId } from '../names.js';
import { isMeshTunnel, isOrphanLink, isWantedPort, isWantedSpare, meshBridges, recordedLinks, wantedPorts } from '../reconcile/wanted.js';
import { endpointOrphan, networkGone } from '../reconcile/gone.js';
import type { Facts } from './facts.js';
import type { EndpointRecord } from '../store/records.js';
import type { AddressConflict, ClusterStatus, NetworkIdent } from '../cluster/types.js';
import { isSparePort } from '../dataplane/owned.js';
import type { Lease, LeaseStatus } from '../dhcp/types.js';

export interface NetworkStatus {
  id: string;
  /** Docker's name for it, when Docker answered */
  name: string | undefined;
  mode: string;
  vlan: number | undefined;
  /** VNI (vxlan) or key (gre) */
  key: number | undefined;
  bridge: string;
  subnets: string[];
  gateway: string | undefined;
  uplink: string | undefined;
  nativeVlan: number | undefined;
  hostIp: string | undefined;
  remotes: string[];
  mtu: number;
  endpoints: number;
  /** spare ports ready for its next endpoints (never counted as endpoints or orphans) */
  spares: number;
}

export interface EndpointStatus {
  id: string;
  network: string;
  /** Docker's container name, when Docker answered */
  container: string | undefined;
  port: string;
  bridge: string | undefined;
  tag: number | undefined;
  addressV4: string | undefined;
  addressV6: string | undefined;
  /** MTU of the host end, as the kernel has it */
  mtu: number | undefined;
  /** an endpoint of a DHCP network (issue 12): its identity and lease */
  dhcp?: EndpointDhcpStatus;
}

/** A DHCP endpoint as `ovsvlan status` shows it. */
export interface EndpointDhcpStatus {
  mac: string;
  clientId: string;
  hostname: string | undefined;
  /** the lease its renewal client last wrote, else the one the daemon recorded */
  lease: Lease;
  /** the address of its first lease, when the server has since handed back another */
  changedFrom: string | undefined;
  /** the renewal client's PID while it runs */
  clientPid: number | undefined;
}

/** What an endpoint's renewal client says (status.ts reads it from the state directory); undefined when nothing. */
export type DhcpFacts = (endpointId: string) => LeaseStatus | undefined;

/** network-gone and endpoint-orphan are reconciliation's rules of those names (reconcile/gone.ts) */
export type DriftKind = 'network-gone' | 'bridge-missing' | 'port-missing' | 'port-wrong' | 'trunk-missing' | 'veth-missing' | 'endpoint-orphan'
  | 'port-orphan' | 'link-orphan';

export interface Drift {
  kind: DriftKind;
  /** the port, link or bridge concerned */
  object: string;
  detail: string;
}

/** One host of the cluster as `ovsvlan status` shows it. */
export interface ClusterHostStatus {
  id: string;
  /** its `alive` key exists (else: the last record it put, from `info`) */
  alive: boolean;
  /** `ipam reclaim` fenced it and it has not restored its addresses since */
  fenced: boolean;
  underlayIp: string;
  epoch: number;
  /** address keys it holds, every network together */
  addresses: number;
  /** mesh network → tunnel ports it has to peers */
  tunnels: Record<NetworkIdent, number>;
  /** ms since epoch of its last record */
  updatedAt: number;
}

/** The CLUSTER section of `ovsvlan status` (and `cluster` of --json). */
export interface ClusterReport {
  hostId: string;
  hosts: ClusterHostStatus[];
  /** this host's addresses another host holds (from this host's record) */
  conflicts: AddressConflict[];
  networks: Array<{ ident: NetworkIdent; subnets: string[]; mesh: boolean; hosts: string[] }>;
}

export interface StatusReport {
  /** what could not be read: drift is only judged on what could */
  unreadable: Array<{ source: 'state' | 'ovs' | 'links' | 'docker' | 'etcd'; error: string }>;
  networks: NetworkStatus[];
  endpoints: EndpointStatus[];
  drift: Drift[];
  /** cluster mode only, when etcd could be read */
  cluster?: ClusterReport;
}

/**
 * The report of what `f` holds. `graceMs` (OVSVLAN_LEASE_GRACE) is how old an
 * endpoint must be, at `now`, before Docker not listing it, or its container
 * end back in the host, is drift (endpoint-orphan, judged as reconciliation
 * judges it: Docker lists a container's endpoint only once the container is
 * up); without it, those are not judged. `dhcpFacts`: what each DHCP
 * endpoint's renewal client says (status.ts reads it from the state directory).
 */
export function statusReport(f: Facts, graceMs = Infinity, now = Date.now(), dhcpFacts: DhcpFacts = () => undefined): StatusReport {
  const unreadable: StatusReport['unreadable'] = [];
  if (!f.state.ok) unreadable.push({ source: 'state', error: f.state.error });
  if (!f.ovs.ok) unreadable.push({ source: 'ovs', error: f.ovs.error });
  if (!f.links.ok) unreadable.push({ source: 'links', error: f.links.error });
  if (!f.containers || !f.dockerView) {
    const why = f.dockerEndpoint === '' ? 'OVSVLAN_DOCKER is empty' : `Docker did not answer${f.dockerEndpoint ? ` at ${f.dockerEndpoint}` : ''}`;
    unreadable.push({ source: 'docker', error: `${why}: no container or network names, and neither network-gone nor an endpoint Docker does not list is judged` });
  }
  if (f.cluster && !f.cluster.status.ok) unreadable.push({ source: 'etcd', error: f.cluster.status.error });
  const state = f.state.ok ? f.state.value : undefined;
  const ovs = f.ovs.ok ? f.ovs.value : undefined;
  const links = f.links.ok ? new Map(f.links.value.map((l) => [l.name, l])) : undefined;
  const networks = Object.values(state?.networks ?? {});
  const endpoints = Object.values(state?.endpoints ?? {});

  const sparesOf = countSpares(ovs?.ports.values() ?? []);
  const report: StatusReport = {
    unreadable,
    networks: networks.map((n) => ({
      id: n.id, name: f.networkNames?.get(n.id), mode: n.mode, vlan: n.vlan, key: n.key, bridge: n.bridge,
      subnets: n.subnets ?? Object.values(state?.pools ?? {}).filter((p) => p.networkId === n.id).map((p) => p.pool),
      gateway: n.gatewayV4 ?? n.gatewayV6, uplink: n.uplink, nativeVlan: n.nativeVlan, hostIp: n.hostIp, remotes: n.remotes,
      mtu: n.mtu, endpoints: endpoints.filter((e) => e.networkId === n.id).length,
      spares: sparesOf.get(n.id) ?? 0,
    })),
    endpoints: endpoints.map((e) => {
      const port = ovs?.ports.get(e.hostIf);
      return {
        id: e.id, network: e.networkId, container: f.containers?.get(e.id), port: e.hostIf, bridge: port?.bridge, tag: port?.tag,
        addressV4: e.addressV4, addressV6: e.addressV6, mtu: links?.get(e.hostIf)?.mtu,
        ...(e.dhcp ? { dhcp: dhcpStatus(e.dhcp, dhcpFacts(e.id)) } : {}),
      };
    }),
    drift: [],
    ...(f.cluster?.status.ok ? { cluster: clusterReport(f.cluster.status.value, f.cluster.hostId) } : {}),
  };
  if (!state) return report;
  const drift = report.drift;
  for (const n of networks.filter((x) => networkGone(x.id, f.dockerView))) {
    drift.push({ kind: 'network-gone', object: n.id, detail: `network ${shortId(n.id)} on ${n.bridge}: Docker has no such network (removed while ovsvlan was not running)` });
  }
  const wanted = wantedPorts(networks, endpoints);
  const live = new Set(networks.map((n) => n.id));
  const endpointName = (id: string): string => {
    const container = f.containers?.get(id);
    return `endpoint ${shortId(id)}${container ? ` (${container})` : ''}`;
  };
  const mesh = meshBridges(networks);
  if (ovs) {
    const bridges = new Set(ovs.bridges.map((b) => b.name));
    for (const b of new Set(networks.map((n) => n.bridge))) {
      if (!bridges.has(b)) drift.push({ kind: 'bridge-missing', object: b, detail: `bridge ${b} of ${networksOn(networks, b)} is not in OVS` });
    }
    for (const w of wanted.values()) {
      const p = ovs.ports.get(w.name);
      const what = w.endpointId ? endpointName(w.endpointId) : `${w.role} port of network ${shortId(w.networkId)}`;
      if (!p || !p.bridge) {
        drift.push({ kind: 'port-missing', object: w.name, detail: `${what}: no OVS port ${w.name}` });
      } else if (p.bridge !== w.bridge || (w.role !== 'uplink' && w.role !== 'tunnel' && p.tag !== w.tag)) {
        drift.push({ kind: 'port-wrong', object: w.name, detail: `${what}: port ${w.name} is on ${p.bridge} tag ${p.tag ?? 'none'}, expected ${w.bridge} tag ${w.tag ?? 'none'}` });
      } else if (w.role === 'uplink') {
        const missing = w.trunks.filter((v) => !p.trunks.includes(v));
        if (missing.length > 0) drift.push({ kind: 'trunk-missing', object: w.name, detail: `uplink ${w.name} does not trunk VLAN ${missing.join(', ')}` });
      }
    }
    for (const p of ovs.ports.values()) {
      if (p.externalIds[OWNER_KEY] !== OWNER_VALUE || isWantedPort(wanted, p) || isWantedSpare(p, live) || isMeshTunnel(p, mesh)) continue;
      drift.push({ kind: 'port-orphan', object: p.name, detail: `OVS port ${p.name} (${p.externalIds[ROLE_KEY] ?? 'endpoint'}) on ${p.bridge ?? 'no bridge'} is ovsvlan's but no record wants it` });
    }
  }
  if (links) {
    for (const e of endpoints) {
      if (!links.has(e.hostIf)) drift.push({ kind: 'veth-missing', object: e.hostIf, detail: `${endpointName(e.id)}: veth ${e.hostIf} is not in the kernel` });
    }
    const recorded = recordedLinks(endpoints);
    for (const l of links.values()) {
      if (isOrphanLink(l, recorded, live)) {
        drift.push({ kind: 'link-orphan', object: l.name, detail: `veth ${l.name} looks like ovsvlan's but no endpoint has it` });
      }
    }
  }
  const seen = { view: f.dockerView, links: links ?? new Map(), now, graceMs };
  for (const e of endpoints) {
    const verdict = endpointOrphan(e, { ...seen, networkRecorded: live.has(e.networkId) });
    if (verdict.orphan) drift.push({ kind: 'endpoint-orphan', object: e.hostIf, detail: `${endpointName(e.id)} on port ${e.hostIf}: ${verdict.why}` });
  }
  return report;
}

/** A DHCP endpoint's lease: the renewal client's latest, the first address when it changed since. */
function dhcpStatus(d: NonNullable<EndpointRecord['dhcp']>, live: LeaseStatus | undefined): EndpointDhcpStatus {
  const lease = live?.lease ?? d.lease;
  return {
    mac: d.identity.mac, clientId: d.identity.clientId, hostname: d.identity.hostname, lease,
    changedFrom: lease.address !== d.firstAddress ? d.firstAddress : undefined, clientPid: live?.clientPid,
  };
}

function networksOn(networks: ReadonlyArray<{ id: string; bridge: string }>, bridge: string): string {
  return `network ${networks.filter((n) => n.bridge === bridge).map((n) => shortId(n.id)).join(', ')}`;
}

/** How many spare ports each network has (network ID → count), in one pass over the ports. */
function countSpares(ports: Iterable<{ externalIds: Record<string, string> }>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of ports) {
    const network = p.externalIds[NETWORK_KEY];
    if (isSparePort(p) && network !== undefined) counts.set(network, (counts.get(network) ?? 0) + 1);
  }
  return counts;
}

/** The cluster section from what etcd answered: hosts by id, this host's conflicts from its own record. */
export function clusterReport(c: ClusterStatus, hostId: string): ClusterReport {
  const hosts = [...c.hosts].sort((a, b) => a.record.id.localeCompare(b.record.id));
  return {
    hostId,
    hosts: hosts.map((h) => ({
      id: h.record.id, alive: h.alive, fenced: h.fenced, underlayIp: h.record.underlayIp, epoch: h.record.epoch,
      addresses: h.addresses, tunnels: { ...h.record.tunnels }, updatedAt: h.record.updatedAt,
    })),
    conflicts: [...(hosts.find((h) => h.record.id === hostId)?.record.conflicts ?? [])],
    networks: c.networks.map((n) => ({ ident: n.ident, subnets: [...n.subnets], mesh: n.mesh, hosts: [...n.hosts] })),
  };
}
