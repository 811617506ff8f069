// The contracts of DHCP networks (issue 12): what a lease is, the settings a
// network gives, and the calls the driver and the reconciler make on the DHCP
// client module. Only src/dhcp/ spawns the client (BusyBox udhcpc, through
// BusyBox nsenter for a container's netns); the driver never waits on more
// than the first lease, bounded by the network's timeout.

/** `-o dhcp_release=`: when a lease is given back to the server. */
export type ReleasePolicy =
  /** never: the server keeps the address for the container until the lease runs out (default) */
  | 'keep'
  /** when the container leaves the network (docker stop, docker network disconnect, docker rm -f) */
  | 'stop'
  /** when the container is removed (docker rm): kept across stops and restarts */
  | 'remove';

/** `-o dhcp_gateway=`: whether Join gives the container the server's router as its gateway. */
export type GatewayPolicy = 'server' | 'none';

/** A network's DHCP settings, parsed from its -o options (driver/options.ts). */
export interface DhcpSettings {
  gateway: GatewayPolicy;
  release: ReleasePolicy;
  /** bound on the first lease, in seconds (`-o dhcp_timeout=`, default 10) */
  timeoutS: number;
  /** `-o dhcp_subnet=`: canonical CIDR every lease must fall in; undefined: any */
  subnet: string | undefined;
}

/** What the server gave, as the udhcpc hook reported it. */
export interface Lease {
  /** the address with the prefix length of the server's subnet mask, e.g. 10.87.0.23/24 */
  address: string;
  /** option 3, first router; undefined when the server gave none */
  router: string | undefined;
  /** option 54 */
  serverId: string | undefined;
  /** option 51, seconds */
  leaseS: number;
  /** ms since epoch when the hook wrote this lease (bound or renewed) */
  at: number;
}

/** Who asks the server: the same identity always gets the same lease back (server-side reservations work). */
export interface DhcpIdentity {
  /** colon-hex MAC of the container's interface: Docker's --mac-address, or one ovsvlan chose and returned */
  mac: string;
  /** option 61 as hex, "01" + the MAC's bytes (hardware type Ethernet) */
  clientId: string;
  /** option 12: the container's hostname once known (undefined at the first lease: Docker does not send it) */
  hostname: string | undefined;
}

/** The first lease, taken on the container end of the veth while it is still in the host namespace. */
export interface FirstLeaseRequest {
  /** the container end's name in the host namespace (it carries `identity.mac` already and is up) */
  ifname: string;
  identity: DhcpIdentity;
  /** an address to ask for first (the last one this identity held), if any */
  requested: string | undefined;
  timeoutS: number;
  /** `dhcp_subnet`: a lease whose address is outside it is refused (DhcpError); undefined: any */
  subnet?: string | undefined;
  /** how errors name where no server answered, e.g. "VLAN 870" (default: "interface <ifname>") */
  segment?: string | undefined;
  /** the netns file the interface is in (default: the daemon's own namespace; tests give another) */
  netns?: string | undefined;
}

/** The long-running client that renews the lease inside the container's netns. */
export interface RenewalClient {
  endpointId: string;
  /** Join's SandboxKey: the netns file of the container */
  sandboxKey: string;
  identity: DhcpIdentity;
  /** the address the container has now (without prefix length) */
  address: string;
  /** whether the hook installs the server's router as default route when the address changes */
  gateway: GatewayPolicy;
}

/**
 * Giving back a parked lease (dhcp_release=remove) once its container is
 * gone: udhcpc sends DHCPRELEASE from the leased address, so it runs on an
 * interface of the caller's making on the network's segment, carrying the
 * identity's MAC, up, in a throwaway netns (never the host's: the address is
 * put on that interface there).
 */
export interface ReleaseRequest {
  /** the throwaway netns file; the daemon's own namespace is refused */
  netns: string;
  /** the interface in that netns */
  ifname: string;
  identity: DhcpIdentity;
  /** the lease's address with its prefix length, e.g. 10.87.0.23/24 */
  address: string;
  timeoutS: number;
}

/** What `ovsvlan status` shows of an endpoint's lease. */
export interface LeaseStatus {
  endpointId: string;
  lease: Lease | undefined;
  /** the address the container got at its first lease, when the server has since handed back another */
  changedFrom: string | undefined;
  /** the renewal client's PID while it runs */
  clientPid: number | undefined;
}

/**
 * The DHCP client module (src/dhcp/client.ts implements it). Every call is
 * bounded in time; none calls Docker.
 */
export interface DhcpClient {
  /**
   * CreateEndpoint: asks the server on the interface for a lease and returns
   * it, or throws DhcpError naming the network's bound ("no DHCP server
   * answered on … within 10 s") or what was wrong with the lease. Never
   * configures the interface (it is in the host's namespace).
   */
  firstLease(req: FirstLeaseRequest): Promise<Lease>;
  /** After Join, once the interface is in the container's netns: starts (or adopts) the renewal client. */
  startRenewal(client: RenewalClient): Promise<void>;
  /** Leave: stops the renewal client; `release` sends DHCPRELEASE first. Bounded; a client already gone is success. */
  stopRenewal(endpointId: string, release: boolean): Promise<void>;
  /** The lease the hook last wrote for the endpoint (the renewal client's view), if any. */
  leaseOf(endpointId: string): Lease | undefined;
  /** At start: the renewal clients still running from before a restart (endpoint ID → PID). */
  running(): Map<string, number>;
  /**
   * CreateNetwork of a DHCP network, before anything is made: what this
   * daemon lacks for the client to work (programs, capabilities), each with
   * its fix; empty when nothing (preflight.ts).
   */
  problems(): string[];
  /**
   * Reconciliation, a parked lease's container removed: asks the server for
   * the address again and releases it (see ReleaseRequest). Resolves true
   * once released; false when no server answered within the bound.
   */
  releaseLease?(req: ReleaseRequest): Promise<boolean>;
  /**
   * Daemon start, before serving Docker: removes the report files a daemon
   * killed during a first lease or a release left behind. Makes nothing.
   */
  sweep?(): Promise<void>;
}
