// `ovsvlan doctor`'s decisions (pure) about what each network needs of the
// host: rp_filter and forwarding, the MTU of uplinks and tunnel underlays, the
// VLANs on trunks, tx checksum offload on userspace bridges. One verdict per
// interface, tunnel or container, with the command that fixes a WARN or FAIL.
import { tunnelOverhead } from '../vswitch/tunnel.js';
import { meshPeerOf, shortId } from '../names.js';
import type { WantedPort } from '../reconcile/wanted.js';
import type { NetworkRecord } from '../store/records.js';
import type { Inventory, InventoryPort } from '../vswitch/inventory.js';
import { fail, netName, pass, RECONCILE, START_OVS, warn, type Check } from './doctor-checks.js';
import type { Read } from './facts.js';

/** The kernel applies the larger of `all` and the interface's own value: 0 off, 1 strict, 2 loose. */
export const effectiveRpFilter = (all: number, own: number): number => Math.max(all, own);

/** `sysctl` writes an interface's dots as slashes: bond0.51 → net.ipv4.conf.bond0/51. */
export const sysctlIfName = (iface: string): string => iface.replace(/\./g, '/');

/**
 * Strict reverse-path filtering (seed 004) drops packets that arrive on an
 * interface the host would not use to answer them: with the host on one
 * subnet and containers on another, their traffic to the host vanishes.
 * Setting the interface to 2 (loose) is enough even when `all` is 1, as the
 * larger value wins, and leaves the other interfaces alone.
 */
export function rpFilterCheck(iface: string, role: string, all: number | undefined, own: number | undefined): Check {
  const name = 'rp_filter';
  if (all === undefined || own === undefined) {
    const missing = own === undefined ? `net.ipv4.conf.${sysctlIfName(iface)}.rp_filter (does ${iface} exist?)` : 'net.ipv4.conf.all.rp_filter';
    return warn(name, `${iface} (${role}): not checked, cannot read ${missing}`, 'ovsvlan status shows what is missing');
  }
  const value = effectiveRpFilter(all, own);
  if (value === 1) {
    const how = own === 1 ? `net.ipv4.conf.${sysctlIfName(iface)}.rp_filter=1` : `net.ipv4.conf.all.rp_filter=1 (${iface} has ${own}; the larger applies)`;
    return warn(name, `${iface} (${role}): strict, ${how}: packets from a source the host routes elsewhere are dropped`,
      `sysctl -w net.ipv4.conf.${sysctlIfName(iface)}.rp_filter=2`);
  }
  return pass(name, `${iface} (${role}): ${value === 0 ? 'off' : 'loose'} (rp_filter ${own}, all ${all})`);
}

/**
 * Forwarding only matters where the host is its containers' way out: a
 * network whose gateway is the host's own host_ip address. host_ip on several
 * networks with forwarding off means the host does not route between them,
 * which may be exactly what was meant (host access without a router): PASS.
 */
export function ipForwardCheck(value: number | undefined, networks: readonly NetworkRecord[]): Check {
  const name = 'ip_forward';
  if (value === undefined) return warn(name, 'net.ipv4.ip_forward unreadable', 'run ovsvlan doctor as root on the host');
  const withHostIp = networks.filter((n) => n.hostIp);
  const viaHost = withHostIp.filter((n) => n.gatewayV4 !== undefined && n.hostIp?.split('/')[0] === n.gatewayV4);
  if (value === 0 && viaHost.length > 0) {
    return warn(name, `0, but ${viaHost.map(netName).join(', ')} use this host's host_ip as gateway: their containers reach the host and nothing beyond`,
      'sysctl -w net.ipv4.ip_forward=1 (and persist it in /etc/sysctl.d/)');
  }
  const note = value !== 0 ? 'the host routes between its interfaces'
    : withHostIp.length > 1 ? `host_ip on ${withHostIp.length} networks, the host does not route between them`
      : 'no network has this host as its gateway';
  return pass(name, `${value}: ${note}`);
}

/** An uplink must carry the largest frame of every network trunked on it; the kernel drops what does not fit. */
export function uplinkMtuChecks(networks: readonly NetworkRecord[], links: Read<ReadonlyMap<string, number>>): Check[] {
  const name = 'uplink-mtu';
  const byUplink = new Map<string, NetworkRecord[]>();
  for (const n of networks) if (n.mode === 'vlan' && n.uplink) byUplink.set(n.uplink, [...(byUplink.get(n.uplink) ?? []), n]);
  if (byUplink.size === 0) return [pass(name, 'no network trunks through an uplink')];
  if (!links.ok) return [warn(name, `not checked: cannot list links: ${links.error}`, 'run ovsvlan doctor as root on the host')];
  return [...byUplink].map(([uplink, nets]) => {
    const largest = nets.reduce((a, b) => (b.mtu > a.mtu ? b : a));
    const mtu = links.value.get(uplink);
    if (mtu === undefined) return fail(name, `uplink ${uplink} of ${nets.map(netName).join(', ')} does not exist`, `bring ${uplink} back (ip link show ${uplink})`);
    if (mtu < largest.mtu) {
      return fail(name, `${uplink} mtu ${mtu} is below ${largest.mtu}, the MTU of ${netName(largest)}: larger frames are dropped`,
        `ip link set dev ${uplink} mtu ${largest.mtu} (or recreate the network with --opt mtu=${mtu})`);
    }
    return pass(name, `${uplink} mtu ${mtu} carries ${nets.map(netName).join(', ')} (largest mtu ${largest.mtu})`);
  });
}

/**
 * Every tunnel of every overlay: the remotes a network names and, for a mesh
 * network (cluster mode, no remote=), the remote_ip of the tunnel ports the
 * mesh made to its peers, as OVS has them.
 */
export function tunnelsOf(networks: readonly NetworkRecord[], ovs: Inventory | undefined): Array<{ n: NetworkRecord; remote: string }> {
  const meshRemotes = (n: NetworkRecord): string[] => [...(ovs?.ports.values() ?? [])]
    .filter((p) => p.bridge === n.bridge && meshPeerOf(p.externalIds)?.networkId === n.id)
    .flatMap((p) => (p.options['remote_ip'] ? [p.options['remote_ip']] : []));
  return networks.flatMap((n) => (n.mode === 'vlan' ? []
    : [...new Set([...n.remotes, ...(n.mesh ? meshRemotes(n) : [])])].map((remote) => ({ n, remote }))));
}

/** The route to a remote and the MTU of the interface it leaves by (or why there is none). */
export type Underlay = Read<{ dev: string; mtu: number }>;

/** A tunnel adds its header to each frame; the underlay must carry the network's MTU plus that, or userspace OVS drops it. */
export function tunnelMtuCheck(net: NetworkRecord, remote: string, under: Underlay): Check {
  const name = 'tunnel-mtu';
  if (net.mode === 'vlan') return pass(name, `${netName(net)} has no tunnel`);
  if (!under.ok) return fail(name, `${netName(net)}: no route to remote ${remote}: ${under.error}`, `restore the underlay route to ${remote} (ip route get ${remote})`);
  const overhead = tunnelOverhead(net.mode, remote);
  const carries = under.value.mtu - overhead;
  const found = `${netName(net)} mtu ${net.mtu} to ${remote} via ${under.value.dev} mtu ${under.value.mtu} (carries ${carries} after ${overhead} bytes of ${net.mode})`;
  if (carries < net.mtu) {
    return fail(name, `${found}: larger frames are dropped`,
      `ip link set dev ${under.value.dev} mtu ${net.mtu + overhead} (or recreate the network with --opt mtu=${carries})`);
  }
  return pass(name, found);
}

/**
 * The VLANs a trunk port carries: its `trunks` (empty means every VLAN, in
 * OVS) and, in a native-* mode, its native VLAN; an access port carries none.
 */
export function carriedVlans(port: InventoryPort): number[] | 'all' {
  const mode = port.vlanMode ?? (port.tag === undefined ? 'trunk' : 'access');
  if (mode === 'access') return [];
  if (port.trunks.length === 0) return 'all';
  return mode.startsWith('native') && port.tag !== undefined ? [...port.trunks, port.tag] : port.trunks;
}

/** Every VLAN in use on a bridge must be on its uplink's trunk, or it never reaches the switch. */
export function trunkChecks(uplinks: readonly WantedPort[], ovs: Read<Inventory>): Check[] {
  const name = 'trunks';
  if (uplinks.length === 0) return [pass(name, 'no uplink in use')];
  if (!ovs.ok) return [warn(name, 'not checked: OVSDB unreadable (see the ovsdb line)', START_OVS)];
  return uplinks.map((u) => {
    const port = ovs.value.ports.get(u.name);
    if (!port || port.bridge !== u.bridge) {
      return fail(name, `uplink ${u.name} is not a port of ${u.bridge}${port?.bridge ? ` (it is on ${port.bridge})` : ''}`, RECONCILE);
    }
    const carried = carriedVlans(port);
    const missing = carried === 'all' ? [] : u.trunks.filter((v) => !carried.includes(v));
    if (missing.length > 0) {
      const all = [...new Set([...port.trunks, ...u.trunks])].sort((a, b) => a - b);
      return fail(name, `${u.name} on ${u.bridge} does not carry VLAN ${missing.join(',')} in use (trunks ${port.trunks.join(',') || 'none'}, vlan_mode ${port.vlanMode ?? 'default'})`,
        `ovs-vsctl set port ${u.name} trunks=${all.join(',')}, or ${RECONCILE}`);
    }
    return pass(name, `${u.name} on ${u.bridge} carries VLAN ${u.trunks.join(',')} (${carried === 'all' ? 'every VLAN' : `trunks ${port.trunks.join(',')}`})`);
  });
}

/** What was found about one endpoint's container end of its veth. */
export interface OffloadFact {
  endpointId: string;
  container: string | undefined;
  bridge: string;
  /** the container end: its name in the container, and the pid whose netns holds it */
  iface?: string;
  pid?: number;
  tx: 'off' | 'on' | { notChecked: string; fix: string };
}

/**
 * On a userspace (netdev) bridge the container end of each veth must have tx
 * checksum offload off: OVS reads frames with AF_PACKET and never completes
 * CHECKSUM_PARTIAL, so ping works while TCP silently fails. ovsvlan turns it
 * off at CreateEndpoint; something else may have turned it back on.
 */
export function offloadChecks(facts: readonly OffloadFact[], notChecked: number): Check[] {
  const name = 'tx-offload';
  if (facts.length === 0) return [pass(name, 'no endpoint on a userspace (netdev) bridge')];
  const out: Check[] = [];
  for (const f of facts) {
    const who = `container ${f.container ?? '?'} (endpoint ${shortId(f.endpointId)}) on ${f.bridge}`;
    if (f.tx === 'on') {
      out.push(fail(name, `${who}: tx checksumming on ${f.iface}: its TCP arrives with bad checksums`,
        `nsenter --net=/proc/${f.pid}/ns/net ethtool -K ${f.iface} tx off (or restart the container)`));
    } else if (f.tx !== 'off') {
      out.push(warn(name, `${who}: not checked, ${f.tx.notChecked}`, f.tx.fix));
    }
  }
  const ok = facts.filter((f) => f.tx === 'off').length;
  if (out.length === 0 || ok > 0) {
    out.unshift(pass(name, `tx checksumming off in ${ok} of ${facts.length} containers on netdev bridges${notChecked > 0 ? ` (${notChecked} more not checked)` : ''}`));
  }
  return out;
}
