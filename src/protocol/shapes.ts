// The forms of request fields, as Docker makes them (pure): IDs, pool IDs,
// addresses, subnets, MACs. Each reader returns the field checked (as sent:
// Go prints canonical text) or throws an InvalidRequestError naming the field
// and the form it must have. Sources: moby pkg/stringid (64 hex IDs for
// networks and endpoints), swarmkit identity.NewID (25 base-36 characters for
// networks made through Swarm), Go's net.IP/netip text for addresses.
import { parseAddress, parseInterfaceAddress, parsePrefix, type Family, type Prefix } from '../ipam/address.js';
import { isPoolId } from '../ipam/pool-id.js';
import { badShape, type Fields } from './decode.js';

const HEX_ID = /^[0-9a-f]{64}$/;
const SWARM_ID = /^[0-9a-z]{25}$/;
/** Go's net.HardwareAddr text: 6, 8 or 20 bytes, colon-separated. */
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$|^[0-9a-f]{2}(:[0-9a-f]{2}){7}$|^[0-9a-f]{2}(:[0-9a-f]{2}){19}$/i;
/** Linux PATH_MAX. */
const MAX_PATH = 4096;

export const FORMS = {
  networkId: 'a Docker network ID: 64 lowercase hexadecimal characters (25 lowercase letters and digits for a Swarm network)',
  endpointId: 'a Docker endpoint ID: 64 lowercase hexadecimal characters',
  poolId: 'a PoolID that RequestPool answered, e.g. 10.1.0.0/24#0123abcd',
  address: 'an IP address without prefix length, e.g. 10.1.0.5 or fd00::5',
  mac: 'a MAC address, e.g. 02:42:0a:01:00:05',
  sandboxKey: `an absolute path of at most ${MAX_PATH} characters`,
} as const;

const ipv = (family: Family): string => (family === 4 ? 'IPv4' : 'IPv6');
const example = (family: Family, cidr: string, v6: string): string => (family === 4 ? cidr : v6);

export function networkId(f: Fields, field = 'NetworkID'): string {
  const v = f.string(field);
  return HEX_ID.test(v) || SWARM_ID.test(v) ? v : badShape(f.path(field), FORMS.networkId, v);
}

export function endpointId(f: Fields, field = 'EndpointID'): string {
  const v = f.string(field);
  return HEX_ID.test(v) ? v : badShape(f.path(field), FORMS.endpointId, v);
}

export function poolId(f: Fields, field = 'PoolID'): string {
  const v = f.string(field);
  return isPoolId(v) ? v : badShape(f.path(field), FORMS.poolId, v);
}

/** A plain address (RequestAddress, ReleaseAddress); "" when `optional` and not given. */
export function address(f: Fields, field: string, optional: boolean): string {
  const v = optional ? f.optString(field) : f.string(field);
  if (v !== '' && !parseAddress(v)) {
    return badShape(f.path(field), `${FORMS.address}${v.includes('/') ? ' (no /length: Docker sends the plain address)' : ''}`, v);
  }
  return v;
}

/**
 * An address with prefix length of one family (an endpoint's Address, a
 * gateway), inside `pool` when given; undefined when missing or "".
 */
export function interfaceAddress(f: Fields, field: string, family: Family, pool?: Prefix): string | undefined {
  const v = f.optString(field);
  if (v === '') return undefined;
  const a = parseInterfaceAddress(v);
  if (!a || a.family !== family) badShape(f.path(field), `an ${ipv(family)} address with prefix length, e.g. ${example(family, '10.1.0.5/24', 'fd00::5/64')}`, v);
  if (pool && !(a.value >= pool.first && a.value <= pool.last)) badShape(f.path(field), `an address inside Pool ${pool.cidr}`, v);
  return v;
}

/**
 * A subnet with no host bits set, of `family` when given; undefined when
 * missing or "". `option`: the `docker network create` option the user gave
 * it with (`--subnet`), named in the error, since Docker shows it to them.
 */
export function subnet(f: Fields, field: string, family?: Family, option?: string): Prefix | undefined {
  const v = f.optString(field);
  if (v === '') return undefined;
  const p = parsePrefix(v);
  if (p && (family === undefined || p.family === family)) return p;
  const which = family === undefined ? 'a' : `an ${ipv(family)}`;
  const given = option ? ` (docker network create ${option})` : '';
  return badShape(f.path(field), `${which} CIDR with no host bits set${given}, e.g. ${example(family ?? 4, '10.1.0.0/24', 'fd00:1::/64')}`, v);
}

/** A MAC address; "" when missing. */
export function mac(f: Fields, field: string): string {
  const v = f.optString(field);
  return v === '' || MAC.test(v) ? v : badShape(f.path(field), FORMS.mac, v);
}

/** The path of the container's network namespace (Join); "" when missing. */
export function sandboxKey(f: Fields, field = 'SandboxKey'): string {
  const v = f.optString(field);
  return v === '' || (v.startsWith('/') && v.length <= MAX_PATH && !v.includes('\0')) ? v : badShape(f.path(field), FORMS.sandboxKey, v);
}
