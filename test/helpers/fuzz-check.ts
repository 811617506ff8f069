// What the fuzz test observes of a host, and how it must agree with the
// model of what the daemon answered 200 for: the state file holds exactly the
// model's networks, endpoints, pools and leases (a refused call made nothing,
// removed nothing); every endpoint has its veth pair and its own port (its
// marks, its network's bridge and tag); OVS and the kernel hold nothing of
// ovsvlan's that the state does not name.
import { readPluginState, type PluginState } from './host.js';
import { linkNames } from './netns.js';
import type { OvsInstance } from './ovs.js';
import type { World } from './fuzz-world.js';

export interface OvsRow {
  name: string;
  externalIds: Record<string, string>;
}
export interface PortRow extends OvsRow {
  uuid: string;
  tag: number | undefined;
  bridge: string | undefined;
}

export interface HostView {
  state: PluginState;
  bridges: OvsRow[];
  ports: Map<string, PortRow>;
  links: string[];
}

/** Names ovsvlan gives its links and ports: a 3-letter prefix and 12 hex digits. */
export const OUR_NAME = /^ov[hcitb][0-9a-f]{12}$/;
const OWNED = (ids: Record<string, string>): boolean => ids['ovsvlan-owner'] === 'ovsvlan';

type Cell = unknown;
/** OVSDB's JSON notation: ["set", [...]] / ["map", [[k, v]…]] / ["uuid", u] / an atom. */
const set = (c: Cell): Cell[] => (Array.isArray(c) && c[0] === 'set' ? (c[1] as Cell[]) : [c]);
const uuid = (c: Cell): string => (Array.isArray(c) && c[0] === 'uuid' ? String(c[1]) : '');
const map = (c: Cell): Record<string, string> => (Array.isArray(c) && c[0] === 'map' ? Object.fromEntries(c[1] as Array<[string, string]>) : {});

async function table(ovs: OvsInstance, name: string, columns: string): Promise<Cell[][]> {
  return (JSON.parse(await ovs.vsctl(['--format=json', `--columns=${columns}`, 'list', name])) as { data: Cell[][] }).data;
}

export async function viewHost(ovs: OvsInstance, netns: string, stateDir: string): Promise<HostView> {
  const state = await readPluginState(stateDir);
  const portOf = new Map<string, string>();
  const bridges = (await table(ovs, 'Bridge', 'name,ports,external_ids')).map(([name, ports, ids]) => {
    for (const p of set(ports)) portOf.set(uuid(p), String(name));
    return { name: String(name), externalIds: map(ids) };
  });
  const ports = new Map((await table(ovs, 'Port', '_uuid,name,tag,external_ids')).map(([u, name, tag, ids]): [string, PortRow] =>
    [String(name), { uuid: uuid(u), name: String(name), tag: typeof tag === 'number' ? tag : undefined, bridge: portOf.get(uuid(u)), externalIds: map(ids) }]));
  return { state, bridges, ports, links: await linkNames(netns) };
}

/** Everything in which the host and the model disagree, as readable lines (empty: all agree). */
export function drift(w: World, v: HostView): string[] {
  const out: string[] = [];
  const same = (what: string, model: Iterable<string>, state: Iterable<string>): void => {
    const m = new Set(model);
    const s = new Set(state);
    for (const x of m) if (!s.has(x)) out.push(`${what} ${x.slice(0, 24)} answered for but not in the state file`);
    for (const x of s) if (!m.has(x)) out.push(`${what} ${x.slice(0, 24)} in the state file but never answered for`);
  };
  const { networks, endpoints, pools } = v.state;
  same('network', w.networks.keys(), Object.keys(networks));
  same('endpoint', w.endpoints.keys(), Object.keys(endpoints));
  same('pool', w.pools.keys(), Object.keys(pools));
  for (const p of w.pools.values()) if (pools[p.id]) same(`pool ${p.id} lease`, p.leases.keys(), Object.keys(pools[p.id]!.leases));
  for (const ep of w.endpoints.values()) {
    const rec = endpoints[ep.id];
    if (rec && rec['networkId'] !== ep.networkId) out.push(`endpoint ${ep.id.slice(0, 12)} moved to network ${String(rec['networkId']).slice(0, 12)}`);
  }
  for (const n of w.networks.values()) {
    const rec = networks[n.id];
    if (rec && n.origin === 'valid' && !n.overlay && rec['vlan'] !== n.vlan) out.push(`network ${n.id.slice(0, 12)} has VLAN ${String(rec['vlan'])}, not ${n.vlan}`);
  }
  out.push(...hostDrift(v));
  return out;
}

/** The state file against OVS and the links: each endpoint wired as its record says, nothing of ours unnamed. */
function hostDrift(v: HostView): string[] {
  const out: string[] = [];
  const links = new Set(v.links);
  const nets = v.state.networks;
  const wanted = new Set<string>();
  for (const [id, e] of Object.entries(v.state.endpoints)) {
    const net = nets[String(e['networkId'])];
    const host = String(e['hostIf']);
    wanted.add(host).add(String(e['containerIf']));
    const port = v.ports.get(host);
    const where = `endpoint ${id.slice(0, 12)} (${host})`;
    if (!port) out.push(`${where} has no port`);
    else if (port.externalIds['ovsvlan-endpoint'] !== id || port.externalIds['ovsvlan-network'] !== e['networkId']) out.push(`${where}: its port is marked as another's`);
    else if (net && (port.bridge !== net['bridge'] || port.tag !== net['vlan'])) out.push(`${where}: port on ${port.bridge} tag ${port.tag}, network on ${String(net['bridge'])} VLAN ${String(net['vlan'])}`);
    if (!links.has(host) || !links.has(String(e['containerIf']))) out.push(`${where} lacks a veth end`);
  }
  // a live network's spares (ovsvlan-role=spare, both veth ends named alike) are its own, no endpoint's
  for (const p of v.ports.values()) {
    if (p.externalIds['ovsvlan-role'] === 'spare' && nets[p.externalIds['ovsvlan-network'] ?? '']) wanted.add(p.name).add(`ovc${p.name.slice(3)}`);
  }
  for (const n of Object.values(nets)) {
    const ports = (n['ports'] ?? {}) as { tunnels?: string[]; host?: string };
    for (const p of [...(ports.tunnels ?? []), ...(ports.host ? [ports.host] : [])]) wanted.add(p);
    wanted.add(String(n['bridge']));
  }
  for (const p of v.ports.values()) if (OWNED(p.externalIds) && !wanted.has(p.name)) out.push(`port ${p.name} of ovsvlan's is no endpoint's or network's`);
  for (const b of v.bridges) if (OWNED(b.externalIds) && !wanted.has(b.name)) out.push(`bridge ${b.name} of ovsvlan's holds no network`);
  for (const l of v.links) if (OUR_NAME.test(l) && !wanted.has(l)) out.push(`link ${l} is no endpoint's or network's`);
  return out;
}

/** What must be left once everything was removed through the API: nothing at all. */
export function leftovers(v: HostView): string[] {
  const out: string[] = [];
  for (const kind of ['networks', 'endpoints', 'pools'] as const) {
    const keys = Object.keys(v.state[kind]);
    if (keys.length > 0) out.push(`state ${kind}: ${keys.map((k) => k.slice(0, 24)).join(', ')}`);
  }
  if (v.bridges.length > 0) out.push(`OVS bridges: ${v.bridges.map((b) => b.name).join(', ')}`);
  if (v.ports.size > 0) out.push(`OVS ports: ${[...v.ports.keys()].join(', ')}`);
  const links = v.links.filter((l) => l !== 'lo' && l !== 'ovs-netdev');
  if (links.length > 0) out.push(`links: ${links.join(', ')}`);
  return out;
}
