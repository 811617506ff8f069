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
// On both: NOARP (set when the link is made: createVethPair), IPv6 address
// generation none (rtnetlink: no link-local address, so no duplicate address
// detection and no router solicitation into the VLAN even where IPv6 stays
// on), and IPv6 off on the link (written to /proc, no spawn), so the end
// also sends nothing. Where /proc/sys is read-only (a managed plugin:
// Docker's default spec) the end keeps IPv6, quiet, and the filter or OVS
// still keeps its traffic from the host's stack.
// ovs-vswitchd deletes an `ingress` qdisc on its ports when it (re)applies
// ingress policing; it names that kind, so the kernel leaves `clsact` alone.
// Cost per container: one file write, one rtnetlink request (address
// generation), and on netdev three more (the link's index, the qdisc, the
// filter); no process.
import { constants, readFileSync } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { ConflictError, OvsvlanError } from '../errors.js';
import { ingressFilters, replaceClsact, replaceIngressBpf, type IngressFilter, type SockFilter } from '../netlink/tc.js';
import { canonicalAddress, parseAddress } from '../ipam/address.js';
import type { DatapathType } from '../vswitch/vswitch.js';
import { getLink, listLinks, setIpv4Conf, setIpv6Quiet, setNoArp, type LinkInfo } from './links.js';

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
  await setIpv6Quiet(name);
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

/**
 * A host port takes no packet addressed to another network's host_ip
 * (`foreign`: those addresses, without mask): Linux delivers a packet to any
 * of the host's addresses whatever link it came in on, so a container on VLAN
 * 882 could reach VLAN 880's host_ip through VLAN 882's host port (one ARP
 * answer or static neighbour away). A classic-BPF filter at the port's tc
 * ingress drops IPv4 and IPv6 to those addresses and lets everything else
 * through (its own address, what the host routes, ARP, NDP); replaced as a
 * whole, so no moment without it. Run again whenever a network with a host_ip
 * comes or goes, and at every reconciliation (dataplane/infra.ts).
 */
export async function fenceHostPort(name: string, foreign: readonly string[]): Promise<void> {
  const link = await getLink(name);
  if (!link) throw new OvsvlanError('OVSVLAN_ERR_LINK', `cannot fence host port ${name}: it does not exist`);
  const ops = hostPortFence(name, foreign);
  await replaceClsact(link.index, name);
  await replaceIngressBpf(link.index, name, { pref: PREF, handle: HANDLE, ops });
}

/** The kernel's cap on one classic BPF program (BPF_MAXINSNS, linux/bpf_common.h). */
export const BPF_MAX_INSNS = 4096;

/**
 * Host port `name`'s fence program for the `foreign` host_ips; a ConflictError
 * naming the limit when it would pass BPF_MAX_INSNS (each IPv4 address costs
 * 2 instructions, each IPv6 one 9: about 2,040 IPv4 or 450 IPv6 host_ip
 * networks on one host), where the kernel would answer a bare EINVAL.
 */
export function hostPortFence(name: string, foreign: readonly string[]): SockFilter[] {
  // networks sharing one host_ip (one subnet on several VLANs) cost one comparison
  const addresses = [...new Set(foreign.map((a) => canonicalAddress(a) ?? a))];
  const ops = dropTo(addresses);
  if (ops.length <= BPF_MAX_INSNS) return ops;
  const v6 = addresses.filter((a) => parseAddress(a)?.family === 6).length;
  throw new ConflictError(`cannot fence host port ${name}: ${addresses.length} other networks' host_ip addresses (${addresses.length - v6} IPv4, ${v6} IPv6) `
    + `need a filter of ${ops.length} BPF instructions, over the kernel's limit of ${BPF_MAX_INSNS} `
    + '(about 2,040 IPv4 or 450 IPv6 host_ip addresses on one host); remove the host_ip option from networks that do not need it');
}

// classic BPF (linux/filter.h): the offsets count from the Ethernet header (cls_bpf pushes it back at ingress)
const LD_H_ABS = 0x28;
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JA = 0x05;
const RET_K = 0x06;
const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;
const op = (code: number, k: number, jt = 0, jf = 0): SockFilter => ({ code, jt, jf, k });
/** Words of an address as the packet holds them (network order: what a word load reads). */
const words = (value: bigint, count: number): number[] =>
  Array.from({ length: count }, (_, i) => Number((value >> BigInt(32 * (count - 1 - i))) & 0xffff_ffffn));

/**
 * The program: IPv4 (ethertype 0x0800, destination at byte 30) and IPv6
 * (0x86dd, destination at bytes 38-53) to one of `addresses` is shot; every
 * other frame goes on. Each comparison jumps over at most a few instructions
 * (a jump's reach is 255): 9 + 2 per IPv4 and 9 per IPv6 address, which must
 * fit BPF_MAX_INSNS (hostPortFence checks).
 */
function dropTo(addresses: readonly string[]): SockFilter[] {
  const parsed = addresses.map((a) => parseAddress(a)).filter((a) => a !== undefined);
  const v4 = parsed.filter((a) => a.family === 4).flatMap((a) => [op(JEQ_K, words(a.value, 1)[0] ?? 0, 0, 1), op(RET_K, TC_ACT_SHOT)]);
  const v6 = parsed.filter((a) => a.family === 6).flatMap((a) => words(a.value, 4).flatMap((w, i) => [
    op(LD_W_ABS, 38 + 4 * i),
    // a mismatch skips the rest of this address' block: (3 - i) more loads and compares, and its ret
    op(JEQ_K, w, 0, 2 * (3 - i) + 1),
  ]).concat(op(RET_K, TC_ACT_SHOT)));
  const ipv4 = [op(LD_W_ABS, 30), ...v4, op(RET_K, TC_ACT_OK)];
  const ipv6 = [...v6, op(RET_K, TC_ACT_OK)];
  return [
    op(LD_H_ABS, 12),
    // a jump's target is the instruction after it plus its offset
    op(JEQ_K, 0x0800, 0, 1), op(JA, 3), // IPv4: to its block, after the next three
    op(JEQ_K, 0x86dd, 0, 1), op(JA, 1 + ipv4.length), // IPv6: past the next one and the IPv4 block
    op(RET_K, TC_ACT_OK),
    ...ipv4,
    ...ipv6,
  ];
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
    const link = links.get(e.name);
    if (!link?.noarp || link.ipv6Quiet === false || (checkIpv6 && !ipv6Off(e.name))) out.add(e.name);
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
