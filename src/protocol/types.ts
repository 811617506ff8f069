// Docker's remote NetworkDriver and IpamDriver replies, field names exactly as
// on the wire. Requests are read field by field in routes.ts (decode.ts),
// leniently: Docker adds fields over time and sends null for empty maps.

/** Only fields that were empty in the request may be filled; ovsvlan fills none. */
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
