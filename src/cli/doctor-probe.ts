// What `ovsvlan doctor` reads beyond the facts `status` shares with it: files
// under /proc and /sys, the plugin socket over HTTP, Docker (through the shared
// DockerClient), and a container's side of a veth. Everything is read-only and
// bounded in time; a process is spawned (ip, ethtool, through nsenter) only
// where no file or socket exists to read. What a command prints is checked before use.
import { lstat, readdir, readFile } from 'node:fs/promises';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import { basename, dirname } from 'node:path';
import { DockerClient } from '../docker/client.js';
import { exec, execOk } from '../link/exec.js';
import { parseEndpoint } from '../ovsdb/client.js';
import { JsonRpcConnection } from '../ovsdb/rpc.js';
import type { SocketStat, VswitchdProcess } from './doctor-checks.js';

export const HTTP_TIMEOUT_MS = 3_000;

/** One HTTP request over a Unix socket, aborted after `timeoutMs`. */
export function unixRequest(socketPath: string, method: 'GET' | 'POST', path: string, timeoutMs = HTTP_TIMEOUT_MS): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, signal: AbortSignal.timeout(timeoutMs), headers: method === 'POST' ? { 'Content-Length': '0' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', (err) => reject(err.name === 'AbortError' || err.name === 'TimeoutError' ? new Error(`no answer within ${timeoutMs / 1000} s`) : err));
    req.end();
  });
}

/** Docker at `endpoint` (OVSVLAN_DOCKER, not empty). */
function docker(endpoint: string): DockerClient {
  const client = DockerClient.of(endpoint);
  if (!client) throw new Error('OVSVLAN_DOCKER is empty');
  return client;
}

export function dockerVersion(endpoint: string): Promise<string> {
  return docker(endpoint).version({ timeoutMs: HTTP_TIMEOUT_MS });
}

/** The pid of a running container (its netns is /proc/PID/ns/net); throws with why not. */
export async function containerPid(endpoint: string, container: string): Promise<number> {
  const c = await docker(endpoint).container(container, { timeoutMs: HTTP_TIMEOUT_MS });
  if (!c) throw new Error(`no container ${container}`);
  if (!c.running || !c.pid) throw new Error(`container ${container} is not running`);
  return c.pid;
}

/** A number from /proc/sys (`net/ipv4/ip_forward`); undefined when unreadable (an interface that is gone). */
export async function readSysctl(path: string): Promise<number | undefined> {
  const text = await readFile(`/proc/sys/${path}`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : Number(text.trim());
}

/**
 * ovs-vswitchd keeps its pidfile next to the database socket (/var/run/openvswitch
 * on Debian); without one, whether any ovs-vswitchd process runs on this host.
 */
export async function vswitchdProcess(ovsdb: string): Promise<VswitchdProcess> {
  const pidfile = `${dirname(parseEndpoint(ovsdb))}/ovs-vswitchd.pid`;
  const pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim()) || undefined;
  const running = pid !== undefined && await processName(pid) === 'ovs-vswitchd';
  return { pidfile, pid, running, anyOnHost: running || (pid === undefined && await anyProcessNamed('ovs-vswitchd')) };
}

/**
 * The version the running ovs-vswitchd reports through its control socket
 * (`ovs-appctl version`: `ovs-vswitchd (Open vSwitch) 3.1.0` → 3.1.0), asked
 * over JSON-RPC on `<rundir>/ovs-vswitchd.<pid>.ctl` (ovs-ctl's name) or
 * `<rundir>/ovs-vswitchd.ctl`; undefined when neither answers. No process is
 * run: a pidfile's PID may have been reused by another program.
 */
export async function vswitchdVersion(rundir: string, pid: number, timeoutMs = HTTP_TIMEOUT_MS): Promise<string | undefined> {
  for (const ctl of [`${rundir}/ovs-vswitchd.${pid}.ctl`, `${rundir}/ovs-vswitchd.ctl`]) {
    const text = await unixctl(ctl, 'version', timeoutMs).catch(() => undefined);
    const version = typeof text === 'string' ? /\(Open vSwitch\) (\S+)/.exec(text)?.[1] : undefined;
    if (version) return version;
  }
  return undefined;
}

/** One unixctl command's result (a JSON-RPC request on an OVS daemon's control socket), within `timeoutMs`. */
async function unixctl(socketPath: string, method: string, timeoutMs: number): Promise<unknown> {
  const socket = connect(socketPath);
  const rpc = new JsonRpcConnection(socket);
  try {
    await Promise.race([once(socket, 'connect'), timeout(timeoutMs, `${socketPath}: no connection`)]);
    return await rpc.request(method, [], timeoutMs);
  } finally {
    rpc.close();
  }
}

const timeout = (ms: number, what: string): Promise<never> =>
  new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`${what} within ${ms / 1000} s`)), ms).unref());

const processName = async (pid: number | string): Promise<string> => (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();

async function anyProcessNamed(name: string): Promise<boolean> {
  const pids = (await readdir('/proc').catch(() => [])).filter((e) => /^\d+$/.test(e));
  for (const pid of pids) if (await processName(pid) === name) return true;
  return false;
}

/**
 * The plugin socket: `path` itself or, where nothing is there, the socket of
 * that name one directory down (/run/docker/plugins/ID/ovsvlan.sock), where
 * Docker puts a managed plugin's; `path` when neither exists.
 */
export async function findSocket(path: string): Promise<string> {
  if (await lstat(path).then(() => true, () => false)) return path;
  const dir = dirname(path);
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const candidate = `${dir}/${entry.name}/${basename(path)}`;
    if (entry.isDirectory() && (await lstat(candidate).then((st) => st.isSocket(), () => false))) return candidate;
  }
  return path;
}

export async function socketStat(path: string): Promise<SocketStat> {
  try {
    const s = await lstat(path);
    return { path, kind: s.isSocket() ? 'socket' : 'other', mode: s.mode, uid: s.uid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path, kind: 'missing', mode: 0, uid: -1 };
    throw err;
  }
}

interface IpLink {
  ifindex: number;
  ifname: string;
  /** a veth's peer: its ifindex in the peer's namespace */
  linkIndex: number | undefined;
}

/** `ip -j link show`'s output: the links with an index and a name; anything else in it is skipped. */
export function parseIpLinks(json: string): IpLink[] {
  const doc: unknown = JSON.parse(json);
  if (!Array.isArray(doc)) throw new Error('ip -j link show did not print a JSON array');
  return doc.flatMap((item: unknown): IpLink[] => {
    if (typeof item !== 'object' || item === null) return [];
    const { ifindex, ifname, link_index: linkIndex } = item as Record<string, unknown>;
    if (typeof ifindex !== 'number' || typeof ifname !== 'string') return [];
    return [{ ifindex, ifname, linkIndex: typeof linkIndex === 'number' ? linkIndex : undefined }];
  });
}

/** Host-side link name → the ifindex of its veth peer (in whatever netns the peer is). */
export async function vethPeers(): Promise<Map<string, number>> {
  const peers = new Map<string, number>();
  for (const l of parseIpLinks(await execOk('ip', ['-j', 'link', 'show']))) if (l.linkIndex !== undefined) peers.set(l.ifname, l.linkIndex);
  return peers;
}

/** Whether tx checksumming is on for the link `ifindex` in the netns of `pid`, and that link's name there. */
export async function containerTxChecksum(pid: number, ifindex: number): Promise<{ iface: string; tx: 'on' | 'off' }> {
  const netns = `--net=/proc/${pid}/ns/net`;
  const links = parseIpLinks(await execOk('nsenter', [netns, 'ip', '-j', 'link', 'show']));
  const iface = links.find((l) => l.ifindex === ifindex)?.ifname;
  if (!iface) throw new Error(`no link ${ifindex} in the netns of pid ${pid}`);
  const r = await exec('nsenter', [netns, 'ethtool', '-k', iface]);
  const m = /^tx-checksumming: (on|off)/m.exec(r.stdout);
  if (!m) throw new Error(`ethtool -k ${iface}: ${r.stderr || 'no tx-checksumming line'}`);
  return { iface, tx: m[1] === 'on' ? 'on' : 'off' };
}
