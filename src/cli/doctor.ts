// `ovsvlan doctor`: one line per check, PASS, WARN or FAIL, and for each
// problem the command that fixes it; exit status 1 when a check failed
// (warnings alone leave it at 0). Read-only: it reads the records, OVSDB,
// /proc and /sys, the plugin socket, Docker and the kernel's links, and
// changes nothing. The decisions are in doctor-checks.ts and
// doctor-network.ts, the reads in doctor-probe.ts and facts.ts.
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolveConfig, type CommandLine, type Config } from '../config.js';
import { routeMtu } from '../link/addr.js';
import { wantedPorts } from '../reconcile/wanted.js';
import type { EndpointRecord, NetworkRecord } from '../store/records.js';
import { resolveDatapath } from '../vswitch/datapath.js';
import type { Inventory } from '../vswitch/inventory.js';
import type { Env } from './commands.js';
import {
  activateCheck, datapathCheck, dockerCheck, exitStatus, formatCheck, netName, ovsdbCheck, pass, portErrorsCheck, RECONCILE, socketCheck,
  START_OVS, stateCheck, vswitchdCheck, warn, type Check,
} from './doctor-checks.js';
import {
  ipForwardCheck, offloadChecks, rpFilterCheck, trunkChecks, tunnelMtuCheck, tunnelsOf, uplinkMtuChecks, type OffloadFact,
} from './doctor-network.js';
import {
  containerPid, containerTxChecksum, dockerVersion, findSocket, readSysctl, socketStat, unixRequest, vethPeers, vswitchdProcess, vswitchdVersion,
} from './doctor-probe.js';
import { attempt, gatherFacts, type Facts, type Read } from './facts.js';

/** Containers whose veth is looked at (one Docker call and two short spawns each); the others are counted. */
const OFFLOAD_LIMIT = 32;

export async function runDoctor(cl: CommandLine, env: Env): Promise<number> {
  const checks = await doctor(resolveConfig(cl.settings, env));
  process.stdout.write(`${checks.map(formatCheck).join('\n')}\n`);
  return exitStatus(checks);
}

/** Every check, in the order an operator fixes them: OVS, the daemon, Docker, then the host's settings per network. */
export async function doctor(config: Config): Promise<Check[]> {
  const socket = await findSocket(config.socket);
  const [facts, vswitchd, datapath, sock, activation, docker, rpAll, forward] = await Promise.all([
    gatherFacts(config),
    vswitchdProcess(config.ovsdb),
    resolveDatapath('auto'),
    attempt(() => socketStat(socket)),
    attempt(() => unixRequest(socket, 'POST', '/Plugin.Activate')),
    config.docker ? attempt(() => dockerVersion(config.docker)) : undefined,
    readSysctl('net/ipv4/conf/all/rp_filter'),
    readSysctl('net/ipv4/ip_forward'),
  ]);
  const ovs = facts.ovs.ok ? facts.ovs.value : undefined;
  const networks = facts.state.ok ? Object.values(facts.state.value.networks) : [];
  const endpoints = facts.state.ok ? Object.values(facts.state.value.endpoints) : [];
  const binaryVersion = !ovs?.ovsVersion && vswitchd.running && vswitchd.pid ? await vswitchdVersion(dirname(vswitchd.pidfile), vswitchd.pid) : undefined;
  const out: Check[] = [ovsdbCheck(config.ovsdb, facts.ovs, binaryVersion), vswitchdCheck(vswitchd, ovs)];
  if (ovs) out.push(portErrorsCheck(ovs));
  out.push(datapathCheck(config.datapath, datapath === 'system', ovs, new Set(networks.map((n) => n.bridge))));
  const stateDirExists = await access(config.stateDir).then(() => true, () => false);
  const counted = facts.state.ok ? { ok: true as const, value: { networks: networks.length, endpoints: endpoints.length } } : facts.state;
  out.push(stateCheck(config.stateDir, stateDirExists, counted));
  out.push(socketCheck(socket, sock), activateCheck(socket, activation), dockerCheck(config.docker, docker));
  out.push(ipForwardCheck(forward, networks));

  const wanted = [...wantedPorts(networks, endpoints).values()];
  const uplinks = wanted.filter((p) => p.role === 'uplink');
  const rpIfaces = wanted.filter((p) => p.role === 'uplink' || p.role === 'host');
  if (rpIfaces.length === 0) out.push(pass('rp_filter', 'no uplink or host_ip interface in use'));
  for (const p of rpIfaces) {
    out.push(rpFilterCheck(p.name, p.role === 'host' ? 'host_ip' : 'uplink', rpAll, await readSysctl(`net/ipv4/conf/${p.name}/rp_filter`)));
  }
  const linkMtus = facts.links.ok ? { ok: true as const, value: new Map(facts.links.value.map((l) => [l.name, l.mtu])) } : facts.links;
  out.push(...uplinkMtuChecks(networks, linkMtus), ...trunkChecks(uplinks, facts.ovs));
  out.push(...(await tunnelChecks(networks, ovs)));
  out.push(...(await offloadCheck(config, facts, networks, endpoints)));
  return out;
}

/** Every tunnel's underlay MTU against its network's (doctor-network.ts tunnelsOf says which tunnels). */
async function tunnelChecks(networks: readonly NetworkRecord[], ovs: Inventory | undefined): Promise<Check[]> {
  const tunnels = tunnelsOf(networks, ovs);
  const mesh = networks.filter((n) => n.mode !== 'vlan' && n.mesh);
  if (tunnels.length === 0 && mesh.length === 0) return [pass('tunnel-mtu', 'no overlay network')];
  if (tunnels.length === 0) {
    return [ovs ? pass('tunnel-mtu', `no tunnel: ${mesh.map(netName).join(', ')} has no peer yet`)
      : warn('tunnel-mtu', `not checked: the tunnels of ${mesh.map(netName).join(', ')} are in OVSDB, unread (see the ovsdb line)`, START_OVS)];
  }
  return Promise.all(tunnels.map(async ({ n, remote }) => tunnelMtuCheck(n, remote, await attempt(() => routeMtu(remote)))));
}

/** The container end of every endpoint on a userspace bridge (up to OFFLOAD_LIMIT): tx checksumming must be off. */
async function offloadCheck(config: Config, facts: Facts, networks: readonly NetworkRecord[], endpoints: readonly EndpointRecord[]): Promise<Check[]> {
  const byId = new Map(networks.map((n) => [n.id, n]));
  const ovsBridges = facts.ovs.ok ? facts.ovs.value.bridges : [];
  const bridgeOf = (e: EndpointRecord): string | undefined => {
    const n = byId.get(e.networkId);
    const datapath = ovsBridges.find((b) => b.name === n?.bridge)?.datapath ?? n?.datapath;
    return datapath === 'netdev' ? n?.bridge : undefined;
  };
  const onNetdev = endpoints.filter((e) => bridgeOf(e) !== undefined);
  if (onNetdev.length === 0) return offloadChecks([], 0);
  const peers = await attempt(vethPeers);
  const found: OffloadFact[] = [];
  for (const e of onNetdev.slice(0, OFFLOAD_LIMIT)) {
    const container = facts.containers?.get(e.id);
    found.push({ endpointId: e.id, container, bridge: bridgeOf(e) ?? '?', ...(await containerEnd(config, facts, peers, e)) });
  }
  return offloadChecks(found, onNetdev.length - found.length);
}

/** Where the container end of `e` is and whether it has tx checksumming on, or why that could not be found out and what to do. */
async function containerEnd(config: Config, facts: Facts, peers: Read<Map<string, number>>, e: EndpointRecord): Promise<Pick<OffloadFact, 'iface' | 'pid' | 'tx'>> {
  const notChecked = (why: string, fix: string): Pick<OffloadFact, 'tx'> => ({ tx: { notChecked: why, fix } });
  const asRoot = 'run ovsvlan doctor as root on the host';
  if (!peers.ok) return notChecked(`cannot list links: ${peers.error}`, asRoot);
  const peer = peers.value.get(e.hostIf);
  if (peer === undefined) return notChecked(`its veth ${e.hostIf} does not exist`, `ovsvlan status shows the drift; ${RECONCILE}`);
  const container = facts.containers?.get(e.id);
  if (!container) {
    if (!config.docker) return notChecked('OVSVLAN_DOCKER is empty, so its container cannot be found', '--docker unix:///var/run/docker.sock');
    return facts.containers
      ? notChecked('Docker names no container on it (gone while the daemon was not running?)', `ovsvlan status shows the drift; ${RECONCILE}`)
      : notChecked(`Docker did not answer at ${config.docker}`, 'systemctl start docker, or give its socket with --docker');
  }
  const r = await attempt(async () => {
    const pid = await containerPid(config.docker, container);
    return { pid, ...(await containerTxChecksum(pid, peer)) };
  });
  return r.ok ? r.value : notChecked(r.error, asRoot);
}
