// `ovsvlan status [--json]`: every network and endpoint, and the drift; in
// cluster mode the cluster's hosts, this host's conflicts and the shared
// networks too. Exit status 0 when nothing drifted, 1 when something did, 2
// when the records, OVS or (in cluster mode) etcd could not be read.
import { resolveConfig, type CommandLine } from '../config.js';
import { shortId } from '../names.js';
import type { Env } from './commands.js';
import { gatherFacts, type Facts } from './facts.js';
import { statusReport, type ClusterReport, type DhcpFacts, type StatusReport } from './report.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { UdhcpcClient } from '../dhcp/client.js';

/** Drift must last this long to be reported: Docker may be half-way through a call. */
const SETTLE_MS = 1_000;

export async function runStatus(cl: CommandLine, env: Env): Promise<number> {
  const config = resolveConfig(cl.settings, env);
  const report = await settledReport(async () => ({ facts: await gatherFacts(config), dhcp: dhcpFacts(config.stateDir) }), config.leaseGraceMs);
  process.stdout.write(cl.own['json'] === true ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
  const missing = report.unreadable.filter((u) => u.source === 'state' || u.source === 'ovs' || u.source === 'etcd');
  // the report (stdout) says it too, where a script reading the JSON looks; stderr is where a person looks
  for (const u of missing) process.stderr.write(`ovsvlan status: cannot read ${u.source}: ${u.error}\n`);
  if (missing.length > 0) return 2;
  return report.drift.length > 0 ? 1 : 0;
}

/**
 * A veth and port exist a moment before their record is saved, and a record
 * outlives its port for a moment at DeleteEndpoint: drift is reported only
 * when a second look, SETTLE_MS later, still sees it.
 */
async function settledReport(gather: () => Promise<{ facts: Facts; dhcp: DhcpFacts }>, graceMs: number): Promise<StatusReport> {
  const report = async (): Promise<StatusReport> => {
    const g = await gather();
    return statusReport(g.facts, graceMs, Date.now(), g.dhcp);
  };
  const first = await report();
  if (first.drift.length === 0) return first;
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const second = await report();
  const seen = new Set(first.drift.map((d) => `${d.kind} ${d.object}`));
  return { ...second, drift: second.drift.filter((d) => seen.has(`${d.kind} ${d.object}`)) };
}

/**
 * What the DHCP renewal clients say (their lease files and pidfiles in
 * <state>/dhcp), read without creating anything; empty when there is no such
 * directory (no DHCP network ever had an endpoint here).
 */
function dhcpFacts(stateDir: string): DhcpFacts {
  const dir = join(stateDir, 'dhcp');
  if (!existsSync(dir)) return () => undefined;
  const client = new UdhcpcClient({ dir, logger: pino({ level: 'silent' }) });
  const running = client.running();
  return (endpointId) => ({ endpointId, lease: client.leaseOf(endpointId), changedFrom: undefined, clientPid: running.get(endpointId) });
}

export function formatStatus(r: StatusReport): string {
  const out: string[] = [];
  for (const u of r.unreadable) out.push(`cannot read ${u.source}: ${u.error}`);
  if (r.unreadable.length > 0) out.push('');
  out.push(`NETWORKS (${r.networks.length})`);
  const networkName = new Map(r.networks.map((n) => [n.id, n.name ?? shortId(n.id)]));
  out.push(...table(['NETWORK', 'NAME', 'MODE', 'VLAN/KEY', 'BRIDGE', 'SUBNET', 'GATEWAY', 'MTU', 'UPLINK', 'HOST_IP', 'ENDPOINTS', 'SPARES'],
    r.networks.map((n) => [shortId(n.id), n.name ?? '?', n.mode, String((n.mode === 'vlan' ? n.vlan : n.key) ?? '-'), n.bridge,
      n.subnets.join(',') || '-', n.gateway ?? '-', String(n.mtu),
      n.uplink ? `${n.uplink}${n.nativeVlan ? ` (native ${n.nativeVlan})` : ''}` : n.remotes.join(',') || '-', n.hostIp ?? '-', String(n.endpoints), String(n.spares)])));
  out.push('', `ENDPOINTS (${r.endpoints.length})`);
  out.push(...table(['ENDPOINT', 'CONTAINER', 'NETWORK', 'PORT', 'BRIDGE', 'TAG', 'ADDRESS', 'MTU'],
    r.endpoints.map((e) => [shortId(e.id), e.container ?? '?', networkName.get(e.network) ?? shortId(e.network), e.port, e.bridge ?? 'MISSING', String(e.tag ?? '-'),
      [e.addressV4, e.addressV6].filter(Boolean).join(',') || '-', String(e.mtu ?? '?')])));
  const dhcp = r.endpoints.filter((e) => e.dhcp);
  if (dhcp.length > 0) {
    out.push('', `DHCP LEASES (${dhcp.length})`);
    out.push(...table(['ENDPOINT', 'MAC', 'HOSTNAME', 'ADDRESS', 'ROUTER', 'SERVER', 'LEASE', 'RENEWED', 'CLIENT', 'CHANGED'],
      dhcp.map(({ id, dhcp: d }) => d ? [shortId(id), d.mac, d.hostname ?? '-', d.lease.address, d.lease.router ?? '-', d.lease.serverId ?? '-',
        `${d.lease.leaseS}s`, new Date(d.lease.at).toISOString().replace(/\.\d+Z$/, 'Z'), d.clientPid ? `pid ${d.clientPid}` : 'NOT RUNNING',
        d.changedFrom ? `from ${d.changedFrom}` : '-'] : [])));
  }
  out.push('', r.drift.length === 0 ? 'DRIFT: none' : `DRIFT (${r.drift.length}): reconciliation repairs it (systemctl reload ovsvlan, or kill -HUP the daemon)`);
  for (const d of r.drift) out.push(`  ${d.kind.padEnd(14)} ${d.detail}`);
  if (r.cluster) out.push('', ...formatCluster(r.cluster));
  return `${out.join('\n')}\n`;
}

/** How many host ids a shared network's row names before "…". */
const HOSTS_SHOWN = 5;

function formatCluster(c: ClusterReport): string[] {
  const alive = c.hosts.filter((h) => h.alive).length;
  const out = [`CLUSTER (this host: ${c.hostId}; ${alive} of ${c.hosts.length} hosts alive)`];
  out.push(...table(['HOST', 'STATE', 'FENCED', 'UNDERLAY', 'EPOCH', 'ADDRESSES', 'TUNNELS', 'UPDATED'],
    c.hosts.map((h) => [h.id === c.hostId ? `${h.id} (this)` : h.id, h.alive ? 'alive' : 'gone', h.fenced ? 'yes' : 'no', h.underlayIp || '-',
      String(h.epoch), String(h.addresses), Object.entries(h.tunnels).map(([ident, n]) => `${ident}=${n}`).join(',') || '-',
      new Date(h.updatedAt).toISOString().replace(/\.\d+Z$/, 'Z')])));
  for (const x of c.conflicts) out.push(`  CONFLICT ${x.ident} ${x.address} held by ${x.heldBy}`);
  out.push('', `SHARED NETWORKS (${c.networks.length})`);
  out.push(...table(['IDENT', 'SUBNET', 'MESH', 'HOSTS'],
    c.networks.map((n) => [n.ident, n.subnets.join(',') || '-', n.mesh ? 'yes' : 'no',
      `${n.hosts.length}: ${n.hosts.slice(0, HOSTS_SHOWN).join(',')}${n.hosts.length > HOSTS_SHOWN ? ',…' : ''}`])));
  return out;
}

function table(head: string[], rows: string[][]): string[] {
  if (rows.length === 0) return ['  (none)'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)];
}
