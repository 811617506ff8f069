// Docker's remote NetworkDriver and IpamDriver calls: the typed requests that
// requests.ts reads from the wire (every field checked for type, form and
// length; fields Docker adds later are ignored, null reads as empty), and the
// replies, field names exactly as on the wire.
import type { IpamPool } from '../model.js';

// ---- Requests, as the drivers get them

/** DeleteNetwork, FreeNetwork, AllocateNetwork. */
export interface NetworkReq {
  networkId: string;
}

/** DeleteEndpoint, Leave, EndpointOperInfo, Program/RevokeExternalConnectivity. */
export interface EndpointReq {
  networkId: string;
  endpointId: string;
}


/** One entry of CreateNetwork's IPv4Data/IPv6Data: the pool, and the address space of the IPAM that gave it. */
export interface IpamData extends IpamPool {
  /** "null" for Docker's null IPAM (`--ipam-driver null`), which a DHCP network needs; requests.ts always sets it */
  addressSpace?: string;
}

export interface CreateNetworkReq {
  networkId: string;
  /** the -o options (com.docker.network.generic), every value a string */
  generic: Record<string, string>;
  internal: boolean;
  /** `IPv4Data` is empty with --ipv4=false (28.0+) */
  ipv4: IpamData[];
  ipv6: IpamData[];
}

export interface CreateEndpointReq extends EndpointReq {
  /** CIDR; undefined when Docker has none (an IPv6-only network, 28.0+) */
  addressV4: string | undefined;
  addressV6: string | undefined;
  /** --mac-address (per endpoint since 25.0): Docker sets it itself; never echoed back */
  macAddress: string | undefined;
}

export interface JoinReq extends EndpointReq {
  /** the container's netns path; it exists at Join (28.0+ runs Join after the task is created) */
  sandboxKey: string;
}

export interface RequestPoolReq {
  addressSpace: string;
  /** --subnet, "" when not given; Docker 29 passes `0.0.0.0/24` (any size from the default range) verbatim */
  pool: string;
  subPool: string;
  v6: boolean;
}

export interface RequestAddressReq {
  poolId: string;
  /** plain address, "" to have one picked */
  address: string;
  /** the network's gateway (Options.RequestAddressType) */
  gateway: boolean;
}

export interface ReleaseAddressReq {
  poolId: string;
  address: string;
}

// ---- Replies

/** Only fields that were empty in the request may be filled: ovsvlan fills Address (and MacAddress when Docker gave none) on a DHCP network only. */
export interface CreateEndpointRes {
  Interface: Partial<Record<'Address' | 'AddressIPv6' | 'MacAddress', string>>;
}

export interface JoinRes {
  InterfaceName: { SrcName: string; DstPrefix: string };
  Gateway?: string;
  GatewayIPv6?: string;
  StaticRoutes?: Array<{ Destination: string; RouteType: 0 | 1; NextHop?: string }>;
  DisableGatewayService: boolean;
}

export interface CapabilitiesRes {
  Scope: 'local' | 'global';
  ConnectivityScope: 'local' | 'global';
  /** 28.0+: Docker then calls GwAllocCheck before it asks the IPAM for gateways */
  GwAllocChecker: boolean;
}

export interface GwAllocCheckRes {
  SkipIPv4: boolean;
  SkipIPv6: boolean;
}

export interface ActivateRes {
  Implements: string[];
}

// ---- IpamDriver

export interface IpamCapabilitiesRes {
  RequiresMACAddress: boolean;
  RequiresRequestReplay: boolean;
}

export interface AddressSpacesRes {
  LocalDefaultAddressSpace: string;
  GlobalDefaultAddressSpace: string;
}

export interface RequestPoolRes {
  PoolID: string;
  Pool: string;
  Data: Record<string, string>;
}

export interface RequestAddressRes {
  /** CIDR: the mask is what Docker configures on the interface */
  Address: string;
  Data: Record<string, string>;
}
