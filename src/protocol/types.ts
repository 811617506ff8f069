// Docker's remote NetworkDriver wire format: field names exactly as on the
// wire (see docs/protocol.md). Request bodies are read leniently: Docker adds
// fields over time and sends null for empty maps.

export interface ErrBody {
  Err: string;
}

export interface IPAMData {
  AddressSpace?: string;
  Pool: string;
  Gateway?: string;
  AuxAddresses?: Record<string, string> | null;
}

export interface CreateNetworkReq {
  NetworkID: string;
  Options: Record<string, unknown> | null;
  IPv4Data: IPAMData[] | null;
  IPv6Data: IPAMData[] | null;
}

export interface NetworkIdReq {
  NetworkID: string;
}

export interface EndpointInterface {
  Address: string;
  AddressIPv6: string;
  MacAddress: string;
}

export interface CreateEndpointReq {
  NetworkID: string;
  EndpointID: string;
  Interface: EndpointInterface | null;
  Options: Record<string, unknown> | null;
}

/** Only fields that were empty in the request may be filled; ovsvlan fills none. */
export interface CreateEndpointRes {
  Interface: Partial<EndpointInterface>;
}

export interface EndpointReq {
  NetworkID: string;
  EndpointID: string;
}

export interface JoinReq extends EndpointReq {
  SandboxKey: string;
  Options: Record<string, unknown> | null;
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
