// Concepts more than one layer speaks of (the protocol, the driver, the IPAM
// and the records): one type each.

/** How a network reaches its containers: a VLAN on a bridge, or an overlay bridge of its own. */
export type Mode = 'vlan' | 'vxlan' | 'gre';

/** One subnet of a network, as CreateNetwork's IPv4Data/IPv6Data give it. Addresses are CIDR text, as Docker sends them. */
export interface IpamPool {
  pool: string;
  /** absent when Docker reserved none (GwAllocCheck said skip, 28.0+) */
  gateway: string | undefined;
  /** --aux-address name → CIDR */
  aux: Record<string, string>;
}
