// Helpers for the fault tests: a seeded PRNG, the daemon's JSON log as records,
// an OVSDB that comes back uninitialised, and the consistency checks between
// ovsvlan's state file, Docker's view, OVS and the host's links.
import { readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import type { Host, PluginState } from './host.js';
import { linkNames } from './netns.js';
import { runOk } from './run.js';
import { ownedPorts } from './traffic.js';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function prng(seed: number): { next(): number; int(n: number): number; pick<T>(items: readonly T[]): T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)] as T };
}

export type LogRecord = Record<string, unknown> & { msg?: string; rule?: string; reconcile?: string };

/** The daemon's log file as parsed JSON lines (lines that are not JSON are skipped). */
export async function logRecords(file: string): Promise<LogRecord[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // a line cut by SIGKILL
    }
  }
  return out;
}

/**
 * Starts the host's ovsdb-server alone, on a new empty database that is NOT initialised
 * (no Open_vSwitch row): what a client reconnecting during `ovs-ctl start` can meet. Same
 * paths and pidfile as the helper's own, so host.ovs.stop() stops it.
 */
export async function startUninitialisedOvsdb(host: Host): Promise<void> {
  const dir = host.ovs.dir;
  const env = { OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir };
  await rm(`${dir}/conf.db`, { force: true });
  await runOk('ovsdb-tool', ['create', `${dir}/conf.db`, '/usr/share/openvswitch/vswitch.ovsschema']);
  await runOk('ovsdb-server', [`${dir}/conf.db`, `--remote=punix:${host.ovs.dbSock}`, `--pidfile=${dir}/ovsdb-server.pid`,
    `--unixctl=${dir}/ovsdb-server.ctl`, `--log-file=${dir}/ovsdb-server.log`, '-vconsole:off', '--detach', '--no-chdir'], { env });
}

/** veths in the host's netns named like ovsvlan's, but for the spares of networks (their ports are marked ovsvlan-role=spare). */
export async function ourLinks(host: Host): Promise<string[]> {
  // the networks' spares (a port marked ovsvlan-role=spare, both ends named alike) are left out: inconsistencies() checks them
  const spares = new Set((await ownedPorts(host, { spares: true })).filter((p) => p.externalIds['ovsvlan-role'] === 'spare')
    .flatMap((p) => [p.name, `ovc${p.name.slice(3)}`]));
  return (await linkNames(host.ns.name)).filter((n) => /^ov[hc][0-9a-f]{12}$/.test(n) && !spares.has(n));
}

export interface DockerNet {
  id: string;
  name: string;
  /** Docker's first IPAM subnet */
  subnet: string | undefined;
  /** endpoint ID → address without mask, for each attached container */
  endpoints: Map<string, string>;
}

interface InspectNet {
  Id: string;
  Name: string;
  Driver: string;
  IPAM?: { Config?: Array<{ Subnet?: string }> | null };
  Containers?: Record<string, { EndpointID: string; IPv4Address: string }> | null;
}

/** Docker's ovsvlan networks, with the containers it lists on them. */
export async function dockerNetworks(host: Host): Promise<DockerNet[]> {
  const ids = (await host.dockerOk(['network', 'ls', '-q', '--filter', 'driver=ovsvlan'])).split(/\s+/).filter(Boolean);
  if (ids.length === 0) return [];
  const nets = JSON.parse(await host.dockerOk(['network', 'inspect', ...ids])) as InspectNet[];
  return nets.map((n) => ({
    id: n.Id,
    name: n.Name,
    subnet: n.IPAM?.Config?.[0]?.Subnet,
    endpoints: new Map(Object.values(n.Containers ?? {}).map((c) => [c.EndpointID, c.IPv4Address.split('/')[0] ?? ''])),
  }));
}

/**
 * Every inconsistency between the state file, Docker, OVS and the host's links, as
 * readable lines (empty when all is well). Meant for a quiescent host after a reconciliation.
 */
export async function inconsistencies(host: Host, state: PluginState): Promise<string[]> {
  const problems: string[] = [];
  const docker = await dockerNetworks(host);
  const dockerNet = new Map(docker.map((n) => [n.id, n]));
  const eps = state.endpoints;
  for (const id of Object.keys(state.networks)) {
    if (!dockerNet.has(id)) problems.push(`state network ${id.slice(0, 12)} is gone from Docker`);
  }
  for (const n of docker) {
    if (!state.networks[n.id]) problems.push(`Docker network ${n.name} is unknown to ovsvlan`);
    const ours = new Set(Object.values(eps).filter((e) => e['networkId'] === n.id).map((e) => String(e['id'])));
    const theirs = new Set(n.endpoints.keys());
    for (const e of theirs) if (!ours.has(e)) problems.push(`network ${n.name}: Docker endpoint ${e.slice(0, 12)} has no ovsvlan endpoint`);
    for (const e of ours) if (!theirs.has(e)) problems.push(`network ${n.name}: ovsvlan endpoint ${e.slice(0, 12)} is not Docker's`);
    const pools = Object.values(state.pools).filter((p) => p.networkId === n.id).map((p) => p.pool);
    if (pools.join() !== n.subnet) problems.push(`network ${n.name}: Docker's subnet is ${n.subnet}, ovsvlan's pool(s) [${pools.join()}]`);
    const addrs = [...n.endpoints.values()];
    const dup = addrs.filter((a, i) => addrs.indexOf(a) !== i);
    if (dup.length) problems.push(`network ${n.name}: address(es) ${dup.join(', ')} given to two containers`);
  }
  for (const [pid, p] of Object.entries(state.pools)) {
    const net = p.networkId ? dockerNet.get(p.networkId) : undefined;
    if (!p.networkId) problems.push(`pool ${pid} is bound to no network`);
    else if (!state.networks[p.networkId]) problems.push(`pool ${pid} belongs to network ${p.networkId.slice(0, 12)}, which is gone`);
    for (const [addr, l] of Object.entries(p.leases)) {
      if (l.kind === 'gateway' || l.kind === 'aux') continue;
      const ep = l.endpointId ? eps[l.endpointId] : undefined;
      if (l.kind !== 'endpoint' || !ep) problems.push(`pool ${pid}: lease ${addr} (${l.kind} ${l.endpointId?.slice(0, 12) ?? ''}) belongs to no live endpoint`);
      else if (net && net.endpoints.get(String(ep['id'])) !== addr) problems.push(`pool ${pid}: lease ${addr} is not the address Docker gave endpoint ${String(ep['id']).slice(0, 12)}`);
    }
  }
  const known = new Set(Object.values(eps).flatMap((e) => [String(e['hostIf']), String(e['containerIf'])]));
  for (const port of await ownedPorts(host, { spares: true })) {
    // a live network's spare (test/helpers/fastpath.ts checks them more closely) is no endpoint's, and no orphan
    const spareOf = port.externalIds['ovsvlan-role'] === 'spare' ? port.externalIds['ovsvlan-network'] ?? '' : undefined;
    if (spareOf !== undefined && !state.networks[spareOf]) problems.push(`OVS port ${port.name} is a spare of network ${spareOf.slice(0, 12)}, which is gone`);
    if (spareOf === undefined && !known.has(port.name)) problems.push(`OVS port ${port.name} belongs to no endpoint`);
  }
  for (const link of await ourLinks(host)) {
    if (!known.has(link)) problems.push(`veth ${link} belongs to no endpoint`);
  }
  return problems;
}

/** POSTs `body` to the plugin's socket as dockerd does; returns the status and the parsed answer. */
export function pluginCall(socket: string, path: string, body: string, timeoutMs = 15_000): Promise<{ status: number; answer: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: 'POST', timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let answer: Record<string, unknown> = {};
        try {
          answer = JSON.parse(text) as Record<string, unknown>;
        } catch {
          answer = { raw: text };
        }
        resolve({ status: res.statusCode ?? 0, answer });
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within ${timeoutMs / 1000} s`)));
    req.end(body);
  });
}
