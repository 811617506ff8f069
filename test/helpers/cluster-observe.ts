// What an operator observes of cluster mode from outside ovsvlan, for the cluster e2e tests: the
// keys in etcd (etcdctl against the test cluster, laid out as src/cluster/keys.ts says), the mesh's
// tunnel ports on a network's bridge (ovs-vsctl), and the containers' addresses (docker inspect).
import type { Host } from './host.js';
import type { TestCluster } from './cluster.js';
import { Keys } from '../../src/cluster/keys.js';
import { overlayBridgeName } from '../../src/names.js';
import { waitFor } from './run.js';

/** One address key: `<prefix>/v1/ip/<ident>/<address>` and the host its value names. */
export interface AddressKey {
  readonly ident: string;
  readonly address: string;
  readonly holder: string;
}

/** `etcdctl get --prefix` as key → value (values are one-line JSON or numbers); throws when etcdctl fails. */
export async function etcdGet(c: TestCluster, prefix: string): Promise<Map<string, string>> {
  const r = await c.etcd.etcdctl(['get', '--prefix', prefix]);
  if (r.exitCode !== 0) throw new Error(`etcdctl get --prefix ${prefix}: ${r.stderr || r.stdout}`);
  const lines = r.stdout === '' ? [] : r.stdout.split('\n');
  const out = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) out.set(lines[i] ?? '', lines[i + 1] ?? '');
  return out;
}

/** Every address key of the cluster (of one network identity when given), with its holder. */
export async function addressKeys(c: TestCluster, ident?: string): Promise<AddressKey[]> {
  const keys = new Keys(c.prefix);
  const out: AddressKey[] = [];
  for (const [key, value] of await etcdGet(c, keys.addresses(ident))) {
    const where = keys.parseAddress(key);
    if (!where) continue;
    const holder = (JSON.parse(value) as { host?: unknown }).host;
    out.push({ ...where, holder: typeof holder === 'string' ? holder : `?${value}` });
  }
  return out;
}

/** True while `hostId`'s liveness record (`alive/<id>`, on its lease) is in etcd. */
export async function isAlive(c: TestCluster, hostId: string): Promise<boolean> {
  return (await etcdGet(c, new Keys(c.prefix).alive(hostId))).size > 0;
}

/** A tunnel port of a mesh network as ovs-vsctl shows it. */
export interface MeshTunnel {
  readonly port: string;
  /** external_ids:ovsvlan-peer */
  readonly peer: string | undefined;
  readonly type: string;
  readonly remoteIp: string | undefined;
  readonly key: string | undefined;
}

const unquote = (s: string): string => s.replace(/^"|"$/g, '');

/** The Docker network ID of `net` on `h`. */
export function networkId(h: Host, net: string): Promise<string> {
  return h.dockerOk(['network', 'inspect', '-f', '{{.Id}}', net]);
}

/** The ports on network `net`'s overlay bridge marked `ovsvlan-role=tunnel`, with their peer, type and options. */
export async function meshTunnels(h: Host, net: string): Promise<MeshTunnel[]> {
  const bridge = overlayBridgeName(await networkId(h, net));
  const onBridge = new Set((await h.ovs.vsctl(['list-ports', bridge])).split('\n').filter(Boolean));
  const table = JSON.parse(await h.ovs.vsctl(['--format=json', '--columns=name,external_ids', 'find', 'Port', 'external_ids:ovsvlan-role=tunnel'])) as
    { data: Array<[string, [string, Array<[string, string]>]]> };
  const out: MeshTunnel[] = [];
  for (const [port, ids] of table.data) {
    if (!onBridge.has(port)) continue;
    // one read of both columns; a port removed since the listing (a mesh run at the end of a grace) is gone: skipped
    const read = await h.ovs.vsctl(['get', 'interface', port, 'options', 'type']).catch((e: Error) => (/no row/.test(e.message) ? undefined : Promise.reject(e)));
    if (read === undefined) continue;
    const [options = '', type = ''] = read.split('\n');
    out.push({
      port,
      peer: Object.fromEntries(ids[1])['ovsvlan-peer'],
      type: unquote(type),
      remoteIp: /remote_ip="?([^",}]+)/.exec(options)?.[1],
      key: /key="?([^",}]+)/.exec(options)?.[1],
    });
  }
  return out.sort((a, b) => (a.peer ?? '').localeCompare(b.peer ?? ''));
}

/** `peer=remote_ip` of each tunnel, sorted: one string to compare with what a full mesh should be. */
export const meshShape = (tunnels: readonly MeshTunnel[]): string => tunnels.map((t) => `${t.peer}=${t.remoteIp}`).sort().join(',');

/** The IPv4 address Docker gave `container` on `net` ('' when none). */
export function containerIp(h: Host, container: string, net: string): Promise<string> {
  return h.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, container]);
}

/** Running containers of `h` on `net` → their address. */
export async function addressesOn(h: Host, net: string): Promise<Map<string, string>> {
  const names = (await h.dockerOk(['ps', '--filter', `network=${net}`, '--format', '{{.Names}}'])).split('\n').filter(Boolean);
  const out = new Map<string, string>();
  for (const n of names) out.set(n, await containerIp(h, n, net));
  return out;
}

/**
 * Waits until every host in `hosts` has its liveness record in etcd: its daemon has reached etcd and
 * joined the cluster (the daemon listens before that, and fails cluster calls until then).
 */
export async function joined(c: TestCluster, hosts: readonly { readonly hostId: string }[], timeoutMs = 60_000): Promise<void> {
  await waitFor(`${hosts.map((h) => h.hostId).join(', ')} to join the cluster`, async () => {
    for (const h of hosts) if (!(await isAlive(c, h.hostId))) return false;
    return true;
  }, timeoutMs);
}
