// Deterministic names and ownership marks derived from Docker's IDs (pure).
// Every port and link ovsvlan makes can be traced back to its endpoint or
// network by name and by its marks (external_ids of OVS rows, the alias of a
// veth), so reconciliation and cleanup never touch anything else.
//
// A name is a 3-letter prefix for what the object is plus 12 hex digits of the
// SHA-256 of the full ID it serves (15 characters: the kernel's IFNAMSIZ - 1),
// so distinct IDs get distinct names even when they share a prefix. Before
// issue 9 names kept the first characters of the ID instead; records made then
// keep those names (they are stored, and have the same shape). A deliberate
// collision of 48 bits is possible, so names are never trusted alone: every
// reuse or delete checks the object's marks first.
import { createHash, randomBytes } from 'node:crypto';

/** external_ids key that marks an OVS row as ovsvlan's. */
export const OWNER_KEY = 'ovsvlan-owner';
export const OWNER_VALUE = 'ovsvlan';
export const NETWORK_KEY = 'ovsvlan-network';
export const ENDPOINT_KEY = 'ovsvlan-endpoint';
/** What an OVS port of ovsvlan is for. Endpoint ports written before roles existed carry none. */
export const ROLE_KEY = 'ovsvlan-role';
export type PortRole = 'endpoint' | 'tunnel' | 'uplink' | 'host' | 'spare';
/** On an uplink the operator attached by hand: the VLANs it carried before ovsvlan adopted it. */
export const BASE_TRUNKS_KEY = 'ovsvlan-base-trunks';

/** Prefixes of the veth ends: host end (an OVS port) and container end (moved into the sandbox). */
export const HOST_IF_PREFIX = 'ovh';
export const CONTAINER_IF_PREFIX = 'ovc';
/** Per-network objects: the overlay bridge, tunnel ports (one per remote) and the host's internal port. */
export const OVERLAY_BRIDGE_PREFIX = 'ovb';
export const TUNNEL_PREFIX = 'ovt';
export const HOST_PORT_PREFIX = 'ovi';
const RESERVED = [HOST_IF_PREFIX, CONTAINER_IF_PREFIX, OVERLAY_BRIDGE_PREFIX, TUNNEL_PREFIX, HOST_PORT_PREFIX];
const HEX_CHARS = 12; // 3 + 12 = 15, the kernel's IFNAMSIZ - 1

/** 12 hex digits of SHA-256 of `key`. */
function digest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, HEX_CHARS);
}

export interface VethNames {
  /** Stays in the host namespace and becomes the OVS port. */
  host: string;
  /** Handed to Docker in Join; Docker moves it into the container and renames it ethN. */
  container: string;
}

/** The veth pair of a new endpoint (a recorded endpoint keeps the names its record holds). */
export function vethNames(endpointId: string): VethNames {
  const h = digest(endpointId);
  return { host: `${HOST_IF_PREFIX}${h}`, container: `${CONTAINER_IF_PREFIX}${h}` };
}

/**
 * A spare veth pair (dataplane/spares.ts): random names of the endpoints'
 * form, so that isOurLinkName knows them; whose it becomes is decided when it
 * is handed out, and recorded in the endpoint's record.
 */
export function spareVethNames(): VethNames {
  const h = randomBytes(HEX_CHARS / 2).toString('hex');
  return { host: `${HOST_IF_PREFIX}${h}`, container: `${CONTAINER_IF_PREFIX}${h}` };
}

/** The bridge of a new overlay network (stored in its record). */
export const overlayBridgeName = (networkId: string): string => `${OVERLAY_BRIDGE_PREFIX}${digest(networkId)}`;

/** Names of a network's own ports, as its record keeps them. */
export interface NetworkPortNames {
  /** one per remote, in the order of `remotes` */
  tunnels: string[];
  /** the host_ip's internal port */
  host: string | undefined;
}

/** The port names of a new network: tunnel `i` serves remote `i`. */
export function networkPortNames(networkId: string, remotes: number, hostIp: boolean): NetworkPortNames {
  return {
    tunnels: Array.from({ length: remotes }, (_, i) => `${TUNNEL_PREFIX}${digest(`${networkId}/${i}`)}`),
    host: hostIp ? `${HOST_PORT_PREFIX}${digest(networkId)}` : undefined,
  };
}

/** external_ids key of a mesh tunnel port (cluster/mesh.ts): the host id of the peer it leads to. */
export const PEER_KEY = 'ovsvlan-peer';

/** The tunnel port of mesh network `networkId` to cluster host `hostId` (cluster/mesh.ts): one per peer, named from both. */
export const meshTunnelName = (networkId: string, hostId: string): string => `${TUNNEL_PREFIX}${digest(`${networkId}/peer/${hostId}`)}`;

/** Marks of a mesh tunnel port: a tunnel of its network, and the peer it leads to. */
export function meshTunnelExternalIds(networkId: string, hostId: string): Record<string, string> {
  return { ...infraExternalIds('tunnel', networkId), [PEER_KEY]: hostId };
}

/** The network and peer of a mesh tunnel port (ovsvlan's, role tunnel, with a network and a peer mark), or undefined for any other port. */
export function meshPeerOf(externalIds: Readonly<Record<string, string>>): { networkId: string; hostId: string } | undefined {
  const networkId = externalIds[NETWORK_KEY];
  const hostId = externalIds[PEER_KEY];
  if (externalIds[OWNER_KEY] !== OWNER_VALUE || externalIds[ROLE_KEY] !== 'tunnel' || !networkId || !hostId) return undefined;
  return { networkId, hostId };
}

/**
 * The port names of a network record. Records made before issue 9 hold none:
 * theirs are `ovt` + 10 characters of the ID + the remote's index in 2 hex
 * digits, and `ovi` + 12 characters of the ID.
 */
export function portNamesOf(net: { id: string; remotes: readonly string[]; hostIp: string | undefined; ports?: NetworkPortNames }): NetworkPortNames {
  if (net.ports) return net.ports;
  return {
    tunnels: net.remotes.map((_, i) => `${TUNNEL_PREFIX}${net.id.slice(0, HEX_CHARS - 2)}${i.toString(16).padStart(2, '0')}`),
    host: net.hostIp ? `${HOST_PORT_PREFIX}${net.id.slice(0, HEX_CHARS)}` : undefined,
  };
}

/** Devices Open vSwitch makes for its datapaths: no bridge or uplink may take their names. */
export const OVS_DATAPATH_DEVICES: readonly string[] = ['ovs-system', 'ovs-netdev'];

/** Names ovsvlan derives for its own objects; a user's bridge may not look like one. */
export function hasReservedPrefix(name: string): boolean {
  return RESERVED.some((p) => new RegExp(`^${p}[0-9a-f]{${HEX_CHARS}}$`).test(name));
}

/** True for veth names ovsvlan could have made, of either form (used to find orphans). */
export function isOurLinkName(name: string): boolean {
  return new RegExp(`^(${HOST_IF_PREFIX}|${CONTAINER_IF_PREFIX})[0-9a-f]{${HEX_CHARS}}$`).test(name);
}

/**
 * The alias (ifalias) of both ends of an endpoint's veth: whose it is. Set
 * right after the pair is made; links made before issue 9 have none.
 */
export const linkMark = (endpointId: string): string => `${ENDPOINT_KEY}=${endpointId}`;

const SPARE_ALIAS_KEY = 'ovsvlan-spare';
/** The alias of both ends of a spare veth of network `networkId`, until it is handed out. */
export const spareMark = (networkId: string): string => `${SPARE_ALIAS_KEY}=${networkId}`;

/** The network a link's alias says it is a spare of, or undefined. */
export function spareNetworkOf(alias: string | undefined): string | undefined {
  const prefix = `${SPARE_ALIAS_KEY}=`;
  return alias?.startsWith(prefix) ? alias.slice(prefix.length) : undefined;
}

/** Marks of a spare port: ovsvlan's, role spare, its network (no endpoint yet). */
export function spareExternalIds(networkId: string): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE, [ROLE_KEY]: 'spare', [NETWORK_KEY]: networkId };
}

export function portExternalIds(networkId: string, endpointId: string): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE, [ROLE_KEY]: 'endpoint', [NETWORK_KEY]: networkId, [ENDPOINT_KEY]: endpointId };
}

/** Marks of a tunnel or host port (they belong to a network) or an uplink (it belongs to the bridge). */
export function infraExternalIds(role: Exclude<PortRole, 'endpoint' | 'spare'>, networkId?: string): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE, [ROLE_KEY]: role, ...(networkId ? { [NETWORK_KEY]: networkId } : {}) };
}

export function bridgeExternalIds(): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE };
}

/**
 * Whether a row's external_ids carry every mark in `marks`: the same owner,
 * network and endpoint. An endpoint port written before roles existed has no
 * role and still counts as an endpoint port.
 */
export function hasMarks(externalIds: Readonly<Record<string, string>>, marks: Readonly<Record<string, string>>): boolean {
  return Object.entries(marks).every(([k, v]) => externalIds[k] === v || (k === ROLE_KEY && v === 'endpoint' && externalIds[k] === undefined));
}

/** Whose an OVS row is, for an error message: "endpoint 0123456789ab of network …", "not ovsvlan's". */
export function describeOwner(externalIds: Readonly<Record<string, string>>): string {
  if (externalIds[OWNER_KEY] !== OWNER_VALUE) return 'not ovsvlan\'s';
  const network = externalIds[NETWORK_KEY] ? ` of network ${shortId(externalIds[NETWORK_KEY])}` : '';
  const endpoint = externalIds[ENDPOINT_KEY];
  return endpoint ? `endpoint ${shortId(endpoint)}${network}` : `ovsvlan's ${externalIds[ROLE_KEY] ?? 'port'}${network}`;
}

/** Linux interface names: 1-15 characters; we also refuse anything a shell or OVS would find odd. */
export function isValidBridgeName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name);
}

/** Docker's IDs are 64 hex characters; keep logs readable. */
export const shortId = (id: string): string => id.slice(0, 12);
