// What cluster mode's modules say to each other and to the rest of ovsvlan:
// the records kept in etcd (keys.ts says where) and the calls the driver, the
// IPAM, the daemon and the CLI make. One type per concept.
import type { Mode } from '../model.js';
import type { Prefix } from '../ipam/address.js';

/** Where to find etcd and who this host is: parsed from OVSVLAN_ETCD* / OVSVLAN_HOST_ID / OVSVLAN_UNDERLAY_IP (config.ts). */
export interface ClusterSettings {
  /** client URLs, e.g. https://10.0.0.1:2379 */
  readonly endpoints: readonly string[];
  /** PEM file paths; all undefined: plain http */
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  /** every key lives under it: `${prefix}/v1/…`; no trailing slash (default /ovsvlan) */
  readonly prefix: string;
  /** this host's stable id (OVSVLAN_HOST_ID, else /etc/machine-id) */
  readonly hostId: string;
  /**
   * this host's tunnel endpoint (OVSVLAN_UNDERLAY_IP); '' in the parsed
   * settings means "the address of the interface holding the default route",
   * resolved by the daemon at start (cluster.ts)
   */
  readonly underlayIp: string;
  /** a peer whose liveness record is gone keeps its tunnels this long (OVSVLAN_MESH_GRACE, seconds in the setting) */
  readonly meshGraceMs: number;
}

/**
 * A network's identity in the cluster: its data plane, `<mode>.<tag>` (vlan.860,
 * vxlan.5001, gre.42). One VLAN, VNI or GRE key carries one address plan in a
 * cluster: every host's network with that identity is the same network.
 */
export type NetworkIdent = string;

export const identOf = (mode: Mode, tag: number): NetworkIdent => `${mode}.${tag}`;

/** What every host of a shared network must agree on; written by the first host (definitions.ts). */
export interface SharedSpec {
  readonly ident: NetworkIdent;
  readonly mode: Mode;
  /** VLAN ID, VNI or GRE key */
  readonly tag: number;
  /** canonical CIDRs, IPv4 first, as CreateNetwork's IPv4Data/IPv6Data gave them */
  readonly subnets: readonly string[];
  /** the gateway of each subnet (address, no mask), '' where Docker reserved none */
  readonly gateways: readonly string[];
  /** --aux-address values (addresses, no mask), sorted */
  readonly aux: readonly string[];
  readonly mtu: number;
  /** false: the MTU was worked out on the host (overlays: underlay MTU − overhead); a host with a larger one adopts the definition's */
  readonly mtuExplicit: boolean;
  readonly internal: boolean;
  /** overlays without remote=: the tunnels follow the cluster's live hosts (mesh.ts); false for VLANs and hand-made meshes */
  readonly mesh: boolean;
}

export interface NetworkDefinition extends SharedSpec {
  /** host ids that have the network now, sorted; the definition is deleted with the last */
  readonly hosts: readonly string[];
  readonly createdBy: string;
  /** ms since epoch */
  readonly createdAt: number;
}

/** The value of an address key: who holds it. Never on a lease. */
export interface AddressHolder {
  readonly host: string;
  /** the holder's epoch when it took the address (hosts.ts) */
  readonly epoch: number;
  /** ms since epoch, the holder's clock */
  readonly at: number;
}

/** An address this host's containers use that another host holds in etcd (after a reclaim of this host). */
export interface AddressConflict {
  readonly ident: NetworkIdent;
  readonly address: string;
  /** host id of the holder */
  readonly heldBy: string;
}

/** A host's liveness record (`alive/<id>`, on a lease, put at start; an unleased copy kept current at `hosts/<id>/info`). */
export interface HostRecord {
  readonly id: string;
  readonly underlayIp: string;
  readonly encapsulations: readonly ('vxlan' | 'gre')[];
  /** MTU of the underlay interface */
  readonly mtu: number;
  /** ovsvlan's version, and OVS's when known */
  readonly versions: Readonly<Record<string, string>>;
  /** bumped at every daemon start */
  readonly epoch: number;
  readonly startedAt: number;
  /** ms since epoch of the last put */
  readonly updatedAt: number;
  /** mesh networks of this host → how many tunnel ports it has to peers (shown by status) */
  readonly tunnels: Readonly<Record<NetworkIdent, number>>;
  readonly conflicts: readonly AddressConflict[];
}

/** RequestAddress on a pool of a shared network (addresses.ts). */
export interface AllocateRequest {
  readonly ident: NetworkIdent;
  /** the pool's subnet */
  readonly prefix: Prefix;
  /** --ip-range, or the subnet: where automatic picks come from */
  readonly range: Prefix;
  /** --ip: exactly this address (already checked to be inside the subnet and not reserved) */
  readonly wanted: bigint | undefined;
  /** leased in this host's pool record (gateway, aux, its own containers): never offered */
  isTakenLocally(value: bigint): boolean;
  /** the pool's last automatic pick on this host: the search goes on after it */
  readonly last: bigint | undefined;
  /** when RequestAddress must have failed at the latest (ms since the epoch): the call's budget ends there if sooner */
  readonly deadline?: number;
}

export interface Allocation {
  readonly value: bigint;
  /** Call once the local lease is saved (or released again): until then address sync leaves the key alone. */
  settle(): void;
}

/** Addresses of shared networks, by compare-and-swap (addresses.ts). */
export interface ClusterAddresses {
  /**
   * Takes an address cluster-wide: never one another host (or the definition's
   * gateways and aux addresses) holds; `wanted` held elsewhere fails with a
   * ConflictError naming the holder ("address 10.1.0.7 is already in use by a
   * container on host h2"); a `wanted` this host already holds in etcd but not
   * locally (a replay, a crash between the two saves) is this host's again.
   * Rejects with ClusterUnreachableError within 5 s when etcd does not answer,
   * and with a ConflictError when this host is fenced or the range is full.
   */
  allocate(req: AllocateRequest): Promise<Allocation>;
  /**
   * ReleaseAddress after the local lease is gone: deletes the key when this
   * host holds it (compare on its revision). Never rejects: when etcd does not
   * answer, address sync deletes it once etcd is back (the local journal is the
   * record of the release).
   */
  release(ident: NetworkIdent, address: string): Promise<void>;
}

/** Network definitions (definitions.ts). */
export interface ClusterNetworks {
  /**
   * CreateNetwork, before anything is made: writes the definition when there
   * is none (first host) or checks `spec` against it, and adds this host to its
   * hosts. Returns the definition as agreed (its MTU may be adopted: see
   * SharedSpec.mtuExplicit). Rejects with an InvalidOptionError naming the
   * first field that differs (subnet, gateway, mtu, internal, aux-address,
   * remote) and both values and the host that defined it, or with
   * ClusterUnreachableError.
   */
  join(spec: SharedSpec): Promise<NetworkDefinition>;
  /** DeleteNetwork or a rollback: this host stops using it; the definition goes with its last host. Never rejects (address sync finishes it). */
  leave(ident: NetworkIdent): Promise<void>;
  /** The definition, or undefined. Rejects with ClusterUnreachableError. */
  get(ident: NetworkIdent): Promise<NetworkDefinition | undefined>;
  /** Checks `spec` against the definition as join() would (the same errors), writing nothing; no definition: nothing to check. */
  check(spec: SharedSpec): Promise<void>;
}

/** What address sync reads of this host (the daemon builds it from the StateCache). */
export interface LocalView {
  /** this host's shared networks: identity → the spec it joined with (a missing definition is written again from it) */
  networks(): ReadonlyMap<NetworkIdent, SharedSpec>;
  /** identity → addresses (canonical, no mask) this host's pools hold for containers (leases pending or endpoint) */
  held(): ReadonlyMap<NetworkIdent, ReadonlySet<string>>;
}

export interface SyncReport {
  /** local leases whose key was missing and was written again (by version 0) */
  readonly restored: number;
  /** keys of this host that no local lease explains, deleted (releases made while etcd was away, a crash between the two saves) */
  readonly released: number;
  /** local leases another host holds in etcd: reported, never taken back */
  readonly conflicts: readonly AddressConflict[];
}

/** Level-triggered address and membership reconciliation of this host against etcd (address-sync.ts). */
export interface AddressSync {
  /**
   * One pass, both ways: a local lease without its key → written again by
   * version 0, or a conflict when another host holds it; a key of this host
   * that no local lease explains → deleted by its revision (never one of an
   * allocation not yet settled, nor one of this epoch younger than a few
   * seconds); this host added to the definitions of its networks (a missing
   * definition written again) and removed from the others. Clears this host's
   * fence once its keys are restored. Rejects with ClusterUnreachableError.
   */
  run(): Promise<SyncReport>;
}

/** This host's liveness record (hosts.ts). */
export interface Liveness {
  /** Bumps the epoch, grants a lease (TTL HOST_TTL_SECONDS) and puts the record; after a lost lease grants a new one and puts it again. */
  start(): Promise<void>;
  /** undefined until start() has read it */
  readonly epoch: number | undefined;
  /** Changes the record's tunnels or conflicts; put again soon (coalesced). */
  update(fields: Partial<Pick<HostRecord, 'tunnels' | 'conflicts'>>): void;
  /** Stops the keepalives without revoking: a restart within the TTL is not seen as a departure. */
  stop(): Promise<void>;
}

/** The cluster's hosts as the watch sees them (hosts.ts): a range read, then a watch from the next revision, re-listed after a reset. */
export interface HostView {
  /** host id → record, for every `alive` key */
  alive(): ReadonlyMap<string, HostRecord>;
  /** hosts whose `alive` key went away, with when: the mesh keeps their tunnels for meshGraceMs */
  departed(): ReadonlyMap<string, { readonly record: HostRecord; readonly since: number }>;
  /** `cb` after each change (coalesced over ~150 ms) */
  onChange(cb: () => void): void;
  close(): Promise<void>;
}

/** `ovsvlan ipam reclaim --host H` (reclaim.ts). */
export interface ReclaimResult {
  readonly host: string;
  readonly freed: ReadonlyArray<{ readonly ident: NetworkIdent; readonly address: string }>;
}

/** `ovsvlan status` in cluster mode (status.ts): read from etcd alone. */
export interface ClusterStatus {
  readonly hosts: ReadonlyArray<{ readonly record: HostRecord; readonly alive: boolean; readonly fenced: boolean; readonly addresses: number }>;
  readonly networks: readonly NetworkDefinition[];
}

/** How long a host's `alive` key outlives its last keepalive. */
export const HOST_TTL_SECONDS = 15;
