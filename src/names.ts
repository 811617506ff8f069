// Deterministic names and ownership marks derived from Docker's IDs (pure).
// Every port and link ovsvlan makes can be traced back to its endpoint by name
// and by external_ids, so reconciliation and cleanup never touch anything else.

/** external_ids key that marks an OVS row as ovsvlan's. */
export const OWNER_KEY = 'ovsvlan-owner';
export const OWNER_VALUE = 'ovsvlan';
export const NETWORK_KEY = 'ovsvlan-network';
export const ENDPOINT_KEY = 'ovsvlan-endpoint';
/** What an OVS port of ovsvlan is for. Endpoint ports written before roles existed carry none. */
export const ROLE_KEY = 'ovsvlan-role';
export type PortRole = 'endpoint' | 'tunnel' | 'uplink' | 'host';
/** On an uplink the operator attached by hand: the VLANs it carried before ovsvlan adopted it. */
export const BASE_TRUNKS_KEY = 'ovsvlan-base-trunks';

/** Prefixes of the veth ends: host end (an OVS port) and container end (moved into the sandbox). */
export const HOST_IF_PREFIX = 'ovh';
export const CONTAINER_IF_PREFIX = 'ovc';
const ID_CHARS = 12; // 3 + 12 = 15, the kernel's IFNAMSIZ - 1

export interface VethNames {
  /** Stays in the host namespace and becomes the OVS port. */
  host: string;
  /** Handed to Docker in Join; Docker moves it into the container and renames it ethN. */
  container: string;
}

export function vethNames(endpointId: string): VethNames {
  const short = endpointId.slice(0, ID_CHARS);
  return { host: `${HOST_IF_PREFIX}${short}`, container: `${CONTAINER_IF_PREFIX}${short}` };
}

/** Per-network objects: the overlay bridge, tunnel ports (one per remote) and the host's internal port. */
export const OVERLAY_BRIDGE_PREFIX = 'ovb';
export const TUNNEL_PREFIX = 'ovt';
export const HOST_PORT_PREFIX = 'ovi';
const RESERVED = [HOST_IF_PREFIX, CONTAINER_IF_PREFIX, OVERLAY_BRIDGE_PREFIX, TUNNEL_PREFIX, HOST_PORT_PREFIX];

export const overlayBridgeName = (networkId: string): string => `${OVERLAY_BRIDGE_PREFIX}${networkId.slice(0, ID_CHARS)}`;
export const hostPortName = (networkId: string): string => `${HOST_PORT_PREFIX}${networkId.slice(0, ID_CHARS)}`;
/** `ovt` + 10 characters of the network ID + the remote's index in 2 hex digits (up to 256 remotes). */
export const tunnelPortName = (networkId: string, index: number): string =>
  `${TUNNEL_PREFIX}${networkId.slice(0, ID_CHARS - 2)}${index.toString(16).padStart(2, '0')}`;

/** Names ovsvlan derives for its own objects; a user's bridge may not look like one. */
export function hasReservedPrefix(name: string): boolean {
  return RESERVED.some((p) => new RegExp(`^${p}[0-9a-f]{${ID_CHARS}}$`).test(name));
}

/** True for veth names ovsvlan could have made (used to find orphans). */
export function isOurLinkName(name: string): boolean {
  return new RegExp(`^(${HOST_IF_PREFIX}|${CONTAINER_IF_PREFIX})[0-9a-f]{${ID_CHARS}}$`).test(name);
}

export function portExternalIds(networkId: string, endpointId: string): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE, [ROLE_KEY]: 'endpoint', [NETWORK_KEY]: networkId, [ENDPOINT_KEY]: endpointId };
}

/** Marks of a tunnel or host port (they belong to a network) or an uplink (it belongs to the bridge). */
export function infraExternalIds(role: Exclude<PortRole, 'endpoint'>, networkId?: string): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE, [ROLE_KEY]: role, ...(networkId ? { [NETWORK_KEY]: networkId } : {}) };
}

export function bridgeExternalIds(): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE };
}

/** Linux interface names: 1-15 characters; we also refuse anything a shell or OVS would find odd. */
export function isValidBridgeName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name);
}

/** Docker's IDs are 64 hex characters; keep logs readable. */
export const shortId = (id: string): string => id.slice(0, 12);
