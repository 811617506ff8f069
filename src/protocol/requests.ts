// One reader per call: the wire body becomes a typed request, every field
// checked for type, form and length before any driver sees it, so bad input
// changes nothing. Field names and shapes: moby daemon/libnetwork/drivers/
// remote/api and ipams/remote/api (20.10 to 29); see docs/design.md.
import { InvalidRequestError } from '../errors.js';
import { GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE } from '../ipam/ipam.js';
import type { Family } from '../ipam/address.js';
import { badShape, Fields, type Body } from './decode.js';
import { address, endpointId, interfaceAddress, mac, networkId, poolId, sandboxKey, subnet } from './shapes.js';
import type {
  CreateEndpointReq, CreateNetworkReq, EndpointReq, IpamData, JoinReq, NetworkReq, ReleaseAddressReq, RequestAddressReq, RequestPoolReq,
} from './types.js';

const GENERIC = 'com.docker.network.generic';
const INTERNAL = 'com.docker.network.internal';
/** Both always sent by 28.0+ (enable_ipv4) and 20.10+ (enable_ipv6); read only to check their type. */
const ENABLE_IPV4 = 'com.docker.network.enable_ipv4';
const ENABLE_IPV6 = 'com.docker.network.enable_ipv6';
/** RequestAddress option that marks the network's gateway. */
const REQUEST_ADDRESS_TYPE = 'RequestAddressType';
const GATEWAY_TYPE = 'com.docker.network.gateway';

/** Generous bounds: one entry per --subnet, per --aux-address, per -o. */
const MAX_POOLS = 64;
const MAX_AUX = 1024;
const MAX_AUX_NAME = 255;
const MAX_OPTIONS = 64;

const body = (b: Body): Fields => new Fields(b);

export function networkReq(b: Body): NetworkReq {
  return { networkId: networkId(body(b)) };
}

export function endpointReq(b: Body): EndpointReq {
  const f = body(b);
  return { networkId: networkId(f), endpointId: endpointId(f) };
}

/** CreateNetwork's and GwAllocCheck's Options: the -o map and the flags ovsvlan reads. */
function networkOptions(f: Fields): { generic: Record<string, string>; internal: boolean } {
  const options = f.object('Options');
  options.bool(ENABLE_IPV4);
  options.bool(ENABLE_IPV6);
  return { generic: options.strings(GENERIC, MAX_OPTIONS), internal: options.bool(INTERNAL) ?? false };
}

/** GwAllocCheck (28.0+): the Options that CreateNetwork will get. */
export function gwAllocCheckReq(b: Body): { internal: boolean } {
  return { internal: networkOptions(body(b)).internal };
}

export function createNetworkReq(b: Body): CreateNetworkReq {
  const f = body(b);
  const id = networkId(f);
  const { generic, internal } = networkOptions(f);
  return { networkId: id, generic, internal, ipv4: ipamData(f, 'IPv4Data', 4), ipv6: ipamData(f, 'IPv6Data', 6) };
}

/** Each pool of one family; its gateway and aux addresses inside it. */
function ipamData(f: Fields, field: string, family: Family): IpamData[] {
  return f.objects(field, MAX_POOLS).map((d) => {
    const addressSpace = d.optString('AddressSpace');
    const pool = subnet(d, 'Pool', family);
    if (!pool) throw new InvalidRequestError(`request has no ${d.path('Pool')}`, d.path('Pool'));
    const aux = d.strings('AuxAddresses', MAX_AUX);
    const auxFields = d.object('AuxAddresses');
    for (const name of Object.keys(aux)) {
      // the CLI takes `--aux-address =10.1.0.5` too: the name may be empty
      if (name.length > MAX_AUX_NAME) badShape(auxFields.at, `a map of --aux-address names of at most ${MAX_AUX_NAME} characters`, name);
      interfaceAddress(auxFields, name, family, pool);
    }
    return { pool: pool.cidr, gateway: interfaceAddress(d, 'Gateway', family, pool), aux, addressSpace };
  });
}

export function createEndpointReq(b: Body): CreateEndpointReq {
  const f = body(b);
  const iface = f.object('Interface');
  f.object('Options');
  return {
    networkId: networkId(f),
    endpointId: endpointId(f),
    addressV4: interfaceAddress(iface, 'Address', 4),
    addressV6: interfaceAddress(iface, 'AddressIPv6', 6),
    macAddress: mac(iface, 'MacAddress') || undefined,
  };
}

export function joinReq(b: Body): JoinReq {
  const f = body(b);
  f.object('Options');
  return { ...endpointReq(b), sandboxKey: sandboxKey(f) };
}

/** Program/RevokeExternalConnectivity: the endpoint; Options (port maps, no_proxy_6to4) carry nothing for ovsvlan. */
export function connectivityReq(b: Body): EndpointReq {
  body(b).object('Options');
  return endpointReq(b);
}

export function requestPoolReq(b: Body): RequestPoolReq {
  const f = body(b);
  const addressSpace = f.string('AddressSpace');
  if (addressSpace !== LOCAL_ADDRESS_SPACE && addressSpace !== GLOBAL_ADDRESS_SPACE) {
    badShape('AddressSpace', `${LOCAL_ADDRESS_SPACE} or ${GLOBAL_ADDRESS_SPACE} (the names GetDefaultAddressSpaces answers)`, addressSpace);
  }
  const v6 = f.bool('V6') ?? false;
  const family = v6 ? 6 : 4;
  f.strings('Options', MAX_OPTIONS);
  return { addressSpace, pool: subnet(f, 'Pool', family, '--subnet')?.cidr ?? '', subPool: subnet(f, 'SubPool', family, '--ip-range')?.cidr ?? '', v6 };
}

export function requestAddressReq(b: Body): RequestAddressReq {
  const f = body(b);
  const options = f.strings('Options', MAX_OPTIONS);
  return { poolId: poolId(f), address: address(f, 'Address', true), gateway: options[REQUEST_ADDRESS_TYPE] === GATEWAY_TYPE };
}

export function releaseAddressReq(b: Body): ReleaseAddressReq {
  const f = body(b);
  return { poolId: poolId(f), address: address(f, 'Address', false) };
}

export function poolReq(b: Body): { poolId: string } {
  return { poolId: poolId(body(b)) };
}
