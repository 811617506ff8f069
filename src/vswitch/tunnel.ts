// What an OVS tunnel port costs each inner frame (pure): the underlay MTU
// minus this is the most an overlay can carry. Used by CreateNetwork to work
// out an overlay's MTU, and by `ovsvlan doctor` to check it.
import { isIP } from 'node:net';

/** Bytes a tunnel adds to each inner frame over an IPv4 underlay (GRE: 38 + the 4-byte key field). */
export const TUNNEL_OVERHEAD = { vxlan: 50, gre: 42 } as const;
/** An IPv6 outer header is 20 bytes longer than an IPv4 one. */
const IPV6_EXTRA = 20;

export type TunnelMode = keyof typeof TUNNEL_OVERHEAD;

export const tunnelOverhead = (mode: TunnelMode, remote: string): number =>
  TUNNEL_OVERHEAD[mode] + (isIP(remote) === 6 ? IPV6_EXTRA : 0);
