// Linux links the driver needs: veth pairs for endpoints, and lookups. Each is
// an rtnetlink request from the daemon's own process (netlink/socket.ts), no
// `ip` process: these run on every CreateEndpoint and DeleteEndpoint.
// Deleting a link that is already gone is success (Docker retries deletes,
// and a container's netns may have taken its end away with it).
import { featuresOff, TX_CHECKSUM_FEATURES } from '../netlink/ethtool.js';
import { isErrno, NLM_F, request } from '../netlink/socket.js';
import { attr, attrMap, attrString, IFINFOMSG_LEN, ifinfomsg, nest, parseIfinfomsg, strAttr, u32Attr } from '../netlink/wire.js';
import { execOk } from './exec.js';

export interface LinkInfo {
  name: string;
  /** ifindex: what traffic control requests name a link by */
  index: number;
  mtu: number;
  /** Interface kind (veth, tun, openvswitch…), undefined for plain devices. */
  kind: string | undefined;
  /** The link's alias (ifalias): ovsvlan marks its veths with it (names.ts linkMark). */
  alias: string | undefined;
  /** IFF_NOARP is set */
  noarp: boolean;
  /** IPv6 makes no address of its own on the link (addr_gen_mode none); undefined when the link has no IPv6 (none in the kernel, MTU below 1280) */
  ipv6Quiet: boolean | undefined;
}

// message types (linux/rtnetlink.h)
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const RTM_GETLINK = 18;
const RTM_SETLINK = 19;
// link attributes (linux/if_link.h)
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_AF_SPEC = 26;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
/** linux/veth.h: the peer, as a struct ifinfomsg followed by its own IFLA_* attributes */
const VETH_INFO_PEER = 1;
/** IFLA_AF_SPEC's entry of IPv4 (AF_INET), and its per-link settings (linux/if_link.h IFLA_INET_CONF) */
const AF_INET = 2;
const IFLA_INET_CONF = 1;
/** linux/ip.h IPV4_DEVCONF_*: the index of a setting in IFLA_INET_CONF (the /proc/sys/net/ipv4/conf/<link>/ file of the same name) */
const IPV4_DEVCONF = { arp_announce: 18, arp_ignore: 19 } as const;
/** IFLA_AF_SPEC's entry of IPv6 (AF_INET6), its IFLA_INET6_ADDR_GEN_MODE (u8), and the mode that makes no address (linux/if_link.h) */
const AF_INET6 = 10;
const IFLA_INET6_ADDR_GEN_MODE = 8;
const IN6_ADDR_GEN_MODE_NONE = 1;
// net_device flags (linux/if.h)
const IFF_UP = 0x1;
const IFF_NOARP = 0x80;

/** A request that names the link by IFLA_IFNAME (ifi_index 0). */
const byName = (name: string, ...attrs: Buffer[]): Buffer[] => [ifinfomsg(), strAttr(IFLA_IFNAME, name), ...attrs];

/**
 * Creates a veth pair with both ends at `mtu`, marks both ends with `alias`
 * and brings the host end up. Returns false, changing nothing, when a link
 * named `host` or `peer` exists already: whose it is, is the caller's to judge.
 * The kernel cannot set an alias in the same request that makes the link: a
 * crash in between leaves a pair without it, which is nobody's to reuse.
 * Called by CreateEndpoint (driver/endpoint.ts).
 */
export async function createVethPair(host: string, peer: string, mtu: number, alias: string): Promise<boolean> {
  // the host end is up and NOARP from birth (link/harden.ts); the container end keeps ARP and stays down
  const hostEnd = ifinfomsg({ flags: IFF_UP | IFF_NOARP, change: IFF_UP | IFF_NOARP });
  const peerEnd = Buffer.concat(byName(peer, u32Attr(IFLA_MTU, mtu)));
  const linkinfo = nest(IFLA_LINKINFO, strAttr(IFLA_INFO_KIND, 'veth'), nest(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peerEnd)));
  try {
    await request('route', `create veth ${host} (peer ${peer})`, RTM_NEWLINK, NLM_F.CREATE | NLM_F.EXCL,
      [hostEnd, strAttr(IFLA_IFNAME, host), u32Attr(IFLA_MTU, mtu), linkinfo]);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  }
  try {
    await Promise.all([setAlias(peer, alias), setAlias(host, alias)]);
  } catch (err) {
    await deleteLink(host);
    throw err;
  }
  return true;
}

/** Sets a link's alias (createVethPair; marks a veth made before links carried one). */
export async function setAlias(name: string, alias: string): Promise<void> {
  await request('route', `set alias of ${name}`, RTM_SETLINK, 0, byName(name, strAttr(IFLA_IFALIAS, alias)));
}

/**
 * Sets a link's MAC (colon-hex) and brings it up, in one request (the kernel
 * sets the address before the flags). Called by CreateEndpoint of a DHCP
 * network on the container end, before its first lease (driver/dhcp-endpoint.ts).
 */
export async function setMacUp(name: string, mac: string): Promise<void> {
  const bytes = Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
  await request('route', `set mac of ${name} and up`, RTM_SETLINK, 0,
    [ifinfomsg({ flags: IFF_UP, change: IFF_UP }), strAttr(IFLA_IFNAME, name), attr(IFLA_ADDRESS, bytes)]);
}

/** Sets IFF_NOARP: the link neither asks nor answers ARP (harden.ts, on a link found existing). */
export async function setNoArp(name: string): Promise<void> {
  await request('route', `set ${name} arp off`, RTM_SETLINK, 0, [ifinfomsg({ flags: IFF_NOARP, change: IFF_NOARP }), strAttr(IFLA_IFNAME, name)]);
}

/**
 * Sets IPv4 settings of a link (the files of /proc/sys/net/ipv4/conf/<name>/)
 * through rtnetlink, which needs CAP_NET_ADMIN only: it works where /proc/sys
 * is read-only (a managed plugin). Used by link/harden.ts on host ports.
 */
export async function setIpv4Conf(name: string, conf: Partial<Record<keyof typeof IPV4_DEVCONF, number>>): Promise<void> {
  const values = Object.entries(conf).map(([key, v]) => u32Attr(IPV4_DEVCONF[key as keyof typeof IPV4_DEVCONF], v));
  await request('route', `set IPv4 settings of ${name}`, RTM_SETLINK, 0, byName(name, nest(IFLA_AF_SPEC, nest(AF_INET, nest(IFLA_INET_CONF, ...values)))));
}

/**
 * Makes IPv6 generate no address on the link (addr_gen_mode none): without a
 * link-local address it sends no duplicate address detection and no router
 * solicitation, even where IPv6 stays on (a read-only /proc/sys, or a later
 * write of all.disable_ipv6). Through rtnetlink; a link without IPv6 is left
 * as it is (nothing to quieten). Used by link/harden.ts on host ends.
 */
export async function setIpv6Quiet(name: string): Promise<void> {
  const mode = attr(IFLA_INET6_ADDR_GEN_MODE, Buffer.from([IN6_ADDR_GEN_MODE_NONE]));
  try {
    await request('route', `set IPv6 address generation of ${name} to none`, RTM_SETLINK, 0, byName(name, nest(IFLA_AF_SPEC, nest(AF_INET6, mode))));
  } catch (err) {
    if (!isErrno(err, 'EAFNOSUPPORT')) throw err;
  }
}

/**
 * Turns off transmit checksum offload. Needed on the container end of a veth
 * attached to a userspace (netdev) bridge: OVS reads frames with AF_PACKET and
 * never completes CHECKSUM_PARTIAL, so TCP would arrive with bad checksums.
 * The setting survives Docker moving the link into the container. Through
 * ethtool's netlink family; `ethtool -K` only on a kernel without it (< 5.6).
 */
export async function disableTxOffload(name: string): Promise<void> {
  if (!(await featuresOff(name, TX_CHECKSUM_FEATURES))) await execOk('ethtool', ['-K', name, 'tx', 'off']);
}

/** Deletes a link; returns false when it was already gone. */
export async function deleteLink(name: string): Promise<boolean> {
  try {
    await request('route', `delete link ${name}`, RTM_DELLINK, 0, byName(name));
    return true;
  } catch (err) {
    if (isErrno(err, 'ENODEV', 'ENOENT')) return false;
    throw err;
  }
}

/** One link by name; undefined when there is none. */
export async function getLink(name: string): Promise<LinkInfo | undefined> {
  try {
    const [answer] = await request('route', `get link ${name}`, RTM_GETLINK, 0, byName(name));
    return answer ? linkInfo(answer) : undefined;
  } catch (err) {
    if (isErrno(err, 'ENODEV', 'ENOENT')) return undefined;
    throw err;
  }
}

/** All links of the current namespace. */
export async function listLinks(): Promise<LinkInfo[]> {
  const answers = await request('route', 'list links', RTM_GETLINK, NLM_F.DUMP, [ifinfomsg()]);
  return answers.map(linkInfo);
}

/** An RTM_NEWLINK answer: struct ifinfomsg, then IFLA_* attributes. */
function linkInfo(msg: Buffer): LinkInfo {
  const head = parseIfinfomsg(msg);
  const attrs = attrMap(msg.subarray(IFINFOMSG_LEN));
  const info = attrs.get(IFLA_LINKINFO);
  return {
    name: attrString(attrs.get(IFLA_IFNAME)) ?? '',
    index: head.index,
    mtu: attrs.get(IFLA_MTU)?.readUInt32LE(0) ?? 0,
    kind: info ? attrString(attrMap(info).get(IFLA_INFO_KIND)) : undefined,
    alias: attrString(attrs.get(IFLA_IFALIAS)) || undefined,
    noarp: (head.flags & IFF_NOARP) !== 0,
    ipv6Quiet: ipv6Quiet(attrs.get(IFLA_AF_SPEC)),
  };
}

/** From a link's IFLA_AF_SPEC: whether its IPv6 address generation is none (undefined: no IPv6 on it). */
function ipv6Quiet(afSpec: Buffer | undefined): boolean | undefined {
  const inet6 = afSpec ? attrMap(afSpec).get(AF_INET6) : undefined;
  const mode = inet6 ? attrMap(inet6).get(IFLA_INET6_ADDR_GEN_MODE) : undefined;
  return mode === undefined ? undefined : mode.readUInt8(0) === IN6_ADDR_GEN_MODE_NONE;
}
