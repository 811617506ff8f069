// Deterministic names and ownership marks derived from Docker's IDs (pure).
// Every port and link ovsvlan makes can be traced back to its endpoint by name
// and by external_ids, so reconciliation and cleanup never touch anything else.

/** external_ids key that marks an OVS row as ovsvlan's. */
export const OWNER_KEY = 'ovsvlan-owner';
export const OWNER_VALUE = 'ovsvlan';
export const NETWORK_KEY = 'ovsvlan-network';
export const ENDPOINT_KEY = 'ovsvlan-endpoint';

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

/** True for names ovsvlan could have made (used to find orphans). */
export function isOurLinkName(name: string): boolean {
  return new RegExp(`^(${HOST_IF_PREFIX}|${CONTAINER_IF_PREFIX})[0-9a-f]{${ID_CHARS}}$`).test(name);
}

export function portExternalIds(networkId: string, endpointId: string): Record<string, string> {
  return { [OWNER_KEY]: OWNER_VALUE, [NETWORK_KEY]: networkId, [ENDPOINT_KEY]: endpointId };
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
