// What ovsvlan persists: one versioned record type per kind, checked at load.
// On disk (file-store.ts): a snapshot, `state.json`, holding the records and
// the sequence number of the last change it includes, and a journal,
// `state.journal`, of the changes made since (changes.ts).
import type { Mode } from '../model.js';
import type { DatapathType } from '../vswitch/datapath.js';
import type { NetworkPortNames } from '../names.js';
import type { DhcpIdentity, DhcpSettings, Lease } from '../dhcp/types.js';

/** 4: the snapshot has `seq`, and a journal may follow it (3: the whole state rewritten at each change). */
export const STATE_VERSION = 4;

export interface NetworkRecord {
  id: string;
  mode: Mode;
  /** vlan mode: the bridge named by the user; overlays: a bridge of their own */
  bridge: string;
  /** the tag of the network's ports (vlan mode); undefined for overlays */
  vlan: number | undefined;
  mtu: number;
  /** overlays: the VNI or GRE key, and the other hosts' tunnel endpoints */
  key: number | undefined;
  remotes: string[];
  /** vlan mode: the trunk uplink of the bridge, and its native (untagged) VLAN */
  uplink: string | undefined;
  nativeVlan: number | undefined;
  /** host_ip: the host's address (CIDR) on this network, on an internal port */
  hostIp: string | undefined;
  /** Datapath of the bridge when the network was created (netdev ⇒ tx offload off on veths). */
  datapath: DatapathType;
  /** Gateway IPs without mask, as Docker's IPAM data gave them. */
  gatewayV4: string | undefined;
  gatewayV6: string | undefined;
  internal: boolean;
  /** The subnets Docker's IPAM data gave at CreateNetwork (shown by `ovsvlan status`); absent in records older than 0.2. */
  subnets?: string[];
  /** The names of its tunnel and host ports; absent in records older than issue 9 (names.ts portNamesOf). */
  ports?: NetworkPortNames;
  /** Cluster mode: the network's identity in etcd (cluster/types.ts NetworkIdent); absent: a network of this host alone. */
  ident?: string;
  /** Cluster mode, overlays without remote=: the tunnel ports follow the cluster's live hosts (cluster/mesh.ts owns them, `remotes` is empty). */
  mesh?: boolean;
  /** `-o dhcp=on` (issue 12): its containers' addresses come from the DHCP server on the network; absent: off. */
  dhcp?: DhcpSettings;
  /**
   * DHCP networks: what each MAC (colon-hex, lowercase) last held once its
   * endpoint was deleted, so that the next endpoint with that MAC asks for
   * it again (`udhcpc -r`). Bounded (driver/dhcp-endpoint.ts MAX_KNOWN).
   */
  dhcpKnown?: Record<string, DhcpKnown>;
}

/** A DHCP network's memory of a MAC whose endpoint is gone. */
export interface DhcpKnown {
  /** the last address it held, without prefix length */
  address: string;
  /** the same with the prefix length of its lease (a parked lease is given back from it) */
  cidr?: string;
  /** ms since epoch when its endpoint was deleted */
  at: number;
  /** its container, when learned after Join */
  containerId?: string;
  /** dhcp_release=remove: the lease waits for its container's removal (reconcile/dhcp.ts) */
  parked?: boolean;
}

/** A DHCP network's endpoint (issue 12): who asks the server, and what it gave. */
export interface EndpointDhcp {
  identity: DhcpIdentity;
  /** the first lease; replaced when the renewal client reports another address (never on a mere renewal) */
  lease: Lease;
  /** the address (with prefix length) of the first lease: `ovsvlan status` shows a change from it */
  firstAddress: string;
  /** Join's SandboxKey, saved in the background after Join: where the renewal client runs */
  sandboxKey?: string;
  /** Docker's container, learned in the background after Join */
  containerId?: string;
}

export interface EndpointRecord {
  id: string;
  networkId: string;
  hostIf: string;
  containerIf: string;
  addressV4: string | undefined;
  addressV6: string | undefined;
  /** ms since epoch */
  createdAt: number;
  /** An endpoint of a DHCP network: its identity and lease (`addressV4` is the lease's address). */
  dhcp?: EndpointDhcp;
}

/** Why an address of a pool is taken. */
export type LeaseKind =
  /** the network's gateway (RequestAddress with RequestAddressType gateway) */
  | 'gateway'
  /** --aux-address: bound when CreateNetwork lists it */
  | 'aux'
  /** the network's host_ip (its -o option), leased by CreateNetwork: the host's own address, never handed out */
  | 'host'
  /** handed out, not yet claimed by a CreateEndpoint */
  | 'pending'
  /** claimed by the endpoint `endpointId` */
  | 'endpoint';

export interface LeaseRecord {
  kind: LeaseKind;
  endpointId?: string;
  /** ms since epoch when the lease was made or last changed kind */
  at: number;
}

export interface PoolRecord {
  id: string;
  addressSpace: string;
  v6: boolean;
  /** canonical CIDR of the subnet */
  pool: string;
  /** canonical CIDR of --ip-range, when given */
  subPool: string | undefined;
  /** the network that uses this pool, once CreateNetwork has named it */
  networkId: string | undefined;
  /** true when ovsvlan chose the subnet (no --subnet) */
  auto: boolean;
  /** the last address handed out, canonical text */
  lastAllocated: string | undefined;
  /** ms since epoch */
  createdAt: number;
  /**
   * address (canonical, no mask) → lease. Changed in place by the store only
   * (StateCache.changeLeases): a pool may hold 65,536 leases, and a change
   * must not copy them. Readonly to everyone else.
   */
  leases: Readonly<Record<string, Readonly<LeaseRecord>>>;
}

/** The fields of a pool that a lease change may set along (changes.ts). */
export type PoolFields = Partial<Omit<PoolRecord, 'id' | 'leases'>>;

export interface State {
  version: typeof STATE_VERSION;
  /** The sequence number of the last change the state holds (0: none yet; file-store.ts). */
  seq: number;
  networks: Record<string, NetworkRecord>;
  endpoints: Record<string, EndpointRecord>;
  pools: Record<string, PoolRecord>;
}

export const emptyState = (): State => ({ version: STATE_VERSION, seq: 0, networks: {}, endpoints: {}, pools: {} });

/** Brings an older document up to the current version (v1 had no pools, v2 only VLAN networks, v3 no journal). */
export function migrate(doc: unknown): unknown {
  if (typeof doc !== 'object' || doc === null) return doc;
  const d = doc as Record<string, unknown>;
  if (d['version'] === 1) return migrate({ ...d, version: 2, pools: {} });
  if (d['version'] === 2 && typeof d['networks'] === 'object' && d['networks'] !== null) {
    const networks = Object.fromEntries(Object.entries(d['networks'] as Record<string, object>)
      .map(([id, n]) => [id, { mode: 'vlan', remotes: [], ...n }]));
    return migrate({ ...d, version: 3, networks });
  }
  if (d['version'] === 3) return { ...d, version: 4, seq: 0 };
  return doc;
}

/** Returns the problem with a loaded document, or undefined when it is a valid State. */
export function checkState(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return 'not an object';
  const d = doc as Record<string, unknown>;
  if (d['version'] !== STATE_VERSION) return `unsupported version ${String(d['version'])} (expected ${STATE_VERSION})`;
  if (!Number.isSafeInteger(d['seq']) || (d['seq'] as number) < 0) return 'seq is not a sequence number';
  for (const kind of ['networks', 'endpoints', 'pools'] as const) {
    const m = d[kind];
    if (typeof m !== 'object' || m === null) return `${kind} is not an object`;
    for (const [id, r] of Object.entries(m)) {
      if (typeof r !== 'object' || r === null || (r as { id?: unknown }).id !== id) return `${kind}.${id} is malformed`;
    }
  }
  for (const [id, n] of Object.entries(d['networks'] as Record<string, Record<string, unknown>>)) {
    if (typeof n['bridge'] !== 'string' || typeof n['mode'] !== 'string' || typeof n['mtu'] !== 'number' || !Array.isArray(n['remotes'])) {
      return `networks.${id} lacks mode, bridge, mtu or remotes`;
    }
    const dhcp = n['dhcp'] as Record<string, unknown> | undefined;
    if (dhcp !== undefined && (typeof dhcp !== 'object' || dhcp === null || typeof dhcp['gateway'] !== 'string' || typeof dhcp['release'] !== 'string'
      || typeof dhcp['timeoutS'] !== 'number')) {
      return `networks.${id}.dhcp lacks gateway, release or timeoutS`;
    }
  }
  for (const [id, e] of Object.entries(d['endpoints'] as Record<string, Record<string, unknown>>)) {
    if (typeof e['networkId'] !== 'string' || typeof e['hostIf'] !== 'string' || typeof e['containerIf'] !== 'string') {
      return `endpoints.${id} lacks networkId, hostIf or containerIf`;
    }
    if (e['dhcp'] !== undefined && !isEndpointDhcp(e['dhcp'])) return `endpoints.${id}.dhcp lacks identity, lease or firstAddress`;
  }
  for (const [id, p] of Object.entries(d['pools'] as Record<string, Record<string, unknown>>)) {
    if (typeof p['pool'] !== 'string' || typeof p['leases'] !== 'object' || p['leases'] === null) {
      return `pools.${id} lacks pool or leases`;
    }
  }
  return undefined;
}

/** The DHCP part of an endpoint record as load checks it: what the daemon reads of it is there and of its type. */
function isEndpointDhcp(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, Record<string, unknown> | undefined>;
  return typeof d['identity']?.['mac'] === 'string' && typeof d['identity']['clientId'] === 'string'
    && typeof d['lease']?.['address'] === 'string' && typeof d['lease']['leaseS'] === 'number' && typeof d['firstAddress'] === 'string';
}
