// The host end of a container's veth is an OVS port and nothing else: the
// host's own stack must neither answer through it nor take traffic from it
// (issue 9, defect 11: a container on VLAN 881 got an ARP answer for the
// host's VLAN-880 address from its own veth's host end, and IP sent to that
// end was delivered to the host). Isolation must not rest on routing luck:
// rp_filter and arp_ignore take the larger of `all` and the link's value,
// `all.disable_ipv6` rewrites every link's, so none of those can be relied on.
//
// What holds, by datapath:
// - system (kernel): OVS's rx_handler takes every frame of a port before the
//   IP stack sees it. Nothing to add, and nothing may be added at tc ingress:
//   it runs before the rx_handler, so a drop there would cut the container off.
// - netdev (userspace): OVS reads the port with an AF_PACKET socket, which is
//   handed each frame before tc ingress; the stack gets it after. A drop-all
//   filter at tc ingress (clsact + cls_bpf "ret TC_ACT_SHOT", direct action:
//   no matchall or gact module needed) leaves OVS every frame and the stack
//   none: ARP, IPv4, IPv6 and anything else.
// On both: NOARP (set when the link is made: createVethPair) and IPv6 off on
// the link (written to /proc, no spawn), so the end also sends nothing. Where
// /proc/sys is read-only (a managed plugin: Docker's default spec) the end
// keeps IPv6, which the filter or OVS still keeps from the host's stack.
// ovs-vswitchd deletes an `ingress` qdisc on its ports when it (re)applies
// ingress policing; it names that kind, so the kernel leaves `clsact` alone.
// Cost per container: one file write, and on netdev three rtnetlink requests
// (the link's index, the qdisc, the filter); no process.
import { constants, readFileSync } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { OvsvlanError } from '../errors.js';
import { ingressFilters, replaceClsact, replaceIngressBpf, type IngressFilter, type SockFilter } from '../netlink/tc.js';
import type { DatapathType } from '../vswitch/vswitch.js';
import { getLink, listLinks, setIpv4Conf, setNoArp, type LinkInfo } from './links.js';

/** classic BPF `ret #2` (BPF_RET|BPF_K, TC_ACT_SHOT), run in direct-action mode: drops every frame */
const DROP_ALL: readonly SockFilter[] = [{ code: 6, jt: 0, jf: 0, k: 2 }];
const PREF = 1;
const HANDLE = 1;
/** Names go into a /proc path: nothing but what an interface name ovsvlan makes holds. */
const SAFE_NAME = /^[A-Za-z0-9_.-]{1,15}$/;

const ipv6File = (name: string): string => `/proc/sys/net/ipv6/conf/${name}/disable_ipv6`;

/** False where the kernel has no IPv6 (nothing to turn off) or /proc/sys is read-only (nothing to be done). */
async function ipv6Settable(): Promise<boolean> {
  try {
    await access(ipv6File('all'), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes the host end `name` carry no host traffic; safe to run again. Called
 * by wireEndpoint (CreateEndpoint, its retries, reconciliation's repair) before
 * the port is attached, so before Join hands Docker the container end.
 * `made`: createVethPair has just created the link, NOARP already; a link
 * found existing (a retry, one made by an older ovsvlan) is set NOARP here.
 */
export async function hardenHostEnd(name: string, datapath: DatapathType, made = false): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new OvsvlanError('OVSVLAN_ERR_LINK', `cannot harden link "${name.slice(0, 64)}": not an interface name ovsvlan makes`);
  if (!made) await setNoArp(name);
  if (await ipv6Settable()) await disableIpv6(name);
  if (datapath === 'netdev') await dropIngress(name);
}

/**
 * A network's host port (the internal port that holds its host_ip) answers
 * ARP only for its own address, and asks with it: by default Linux answers on
 * any link for any of the host's addresses, so a container on VLAN 881 asking
 * for VLAN 880's host_ip was answered by VLAN 881's host port (arp_ignore 1:
 * only for an address of the link the request came in on; arp_announce 2:
 * requests name the link's own address as their sender). The kernel takes the
 * larger of `all` and the link's value, so a looser `all` cannot undo it. Set
 * through rtnetlink: a managed plugin, whose /proc/sys is read-only, does it
 * too. Safe to run again (applyInfra, at create and at every reconciliation).
 */
export async function hardenHostPort(name: string): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new OvsvlanError('OVSVLAN_ERR_LINK', `cannot harden link "${name.slice(0, 64)}": not an interface name ovsvlan makes`);
  await setIpv4Conf(name, { arp_ignore: 1, arp_announce: 2 });
}

/** Gives `name` the drop-all ingress filter; replace: idempotent, no gap. */
async function dropIngress(name: string): Promise<void> {
  const link = await getLink(name);
  if (!link) throw new OvsvlanError('OVSVLAN_ERR_LINK', `cannot harden link ${name}: it does not exist`);
  await replaceClsact(link.index, name);
  await replaceIngressBpf(link.index, name, { pref: PREF, handle: HANDLE, ops: DROP_ALL });
}

async function disableIpv6(name: string): Promise<void> {
  try {
    await writeFile(ipv6File(name), '1');
  } catch (err) {
    throw new OvsvlanError('OVSVLAN_ERR_LINK', `cannot turn IPv6 off on ${name}: ${(err as Error).message}`, { cause: err });
  }
}

export interface HostEnd {
  name: string;
  datapath: DatapathType;
}

/**
 * The host ends among `ends` that lack part of their hardening (reconciliation:
 * links made by an older ovsvlan, or changed by hand). One link dump for the
 * NOARP flags (`dumped`: the caller's, when it has one); IPv6 read from /proc without a wait between files (a read of
 * /proc never blocks: 1,000 ends in a few ms, where one awaited read each took
 * most of a second); and one filter dump per netdev end, one after the other:
 * the kernel dumps one link's filters at a time (no dump spans links), and
 * dumps asked all at once would each wake at the end of every other.
 */
export async function unhardenedHostEnds(ends: readonly HostEnd[], dumped?: ReadonlyMap<string, LinkInfo>): Promise<Set<string>> {
  const out = new Set<string>();
  if (!ends.some((e) => SAFE_NAME.test(e.name))) return out;
  const links = dumped ?? new Map((await listLinks()).map((l) => [l.name, l]));
  // a link that is gone is not this check's business (reconciliation's endpoint-gone is)
  const present = ends.filter((e) => SAFE_NAME.test(e.name) && links.has(e.name));
  const checkIpv6 = await ipv6Settable();
  for (const e of present) {
    if (!links.get(e.name)?.noarp || (checkIpv6 && !ipv6Off(e.name))) out.add(e.name);
  }
  for (const e of present.filter((x) => x.datapath === 'netdev')) {
    const filters = await ingressFilters(links.get(e.name)?.index ?? 0, e.name);
    if (!filters.some(isDropAll)) out.add(e.name);
  }
  return out;
}

/** Whether IPv6 is off on link `name`; a link gone meanwhile counts as off (not this check's business). */
function ipv6Off(name: string): boolean {
  try {
    return readFileSync(ipv6File(name), 'utf8').trim() === '1';
  } catch {
    return true;
  }
}

function isDropAll(f: IngressFilter): boolean {
  return f.kind === 'bpf' && f.pref === PREF && f.directAction && f.ops.length === DROP_ALL.length
    && f.ops.every((op, i) => op.code === DROP_ALL[i]?.code && op.k === DROP_ALL[i]?.k);
}
