// The fast path (issue 10) as an outside observer sees it: ovsvlan's OVS ports with their
// role, bridge and tag (ovs-vsctl), the veths of the host netns with their peer (ip), and the
// daemon's saved records; and the rules that must hold between the three once the daemon
// has reconciled, whatever crash came before:
//  - every endpoint record has its own port (role endpoint, its marks, its network's bridge
//    and tag) and its veth; no two records share a link;
//  - every port marked for an endpoint has that endpoint's record; no port is both a spare
//    and an endpoint's;
//  - every spare (role spare) belongs to a live network, sits on its bridge with its VLAN's
//    tag (never untagged: an untagged port would trunk every VLAN) and has its veth;
//  - every veth named like ovsvlan's belongs to a record or to a spare.
import type { PluginState } from './host.js';
import { logRecords, type LogRecord } from './faults.js';
import { viewHost } from './fuzz-check.js';
import type { OvsInstance } from './ovs.js';
import { runOk, sleep } from './run.js';

/** The daemon setting that sizes each network's pool of spares. */
export const SPARES_SETTING = 'OVSVLAN_SPARES';

export interface ObservedPort {
  name: string;
  bridge: string | undefined;
  tag: number | undefined;
  /** ovsvlan-role: endpoint, spare, tunnel, uplink, host */
  role: string | undefined;
  networkId: string | undefined;
  endpointId: string | undefined;
}

export interface ObservedLink {
  name: string;
  /** the other end, when it is in the same netns */
  peer: string | undefined;
  /** ifalias: whose it is (`ovsvlan-endpoint=…`, `ovsvlan-spare=…`) */
  alias: string | undefined;
}

export interface FastpathView {
  state: PluginState;
  /** ports carrying ovsvlan-owner=ovsvlan */
  ports: ObservedPort[];
  /** veths of the host netns named like ovsvlan's (ovh/ovc + 12 hex) */
  links: ObservedLink[];
}

/** Reads ovsvlan's ports and the saved state (helpers/fuzz-check.ts) and the host netns' veths with their peer and alias. */
export async function observe(ovs: OvsInstance, netns: string, stateDir: string): Promise<FastpathView> {
  const host = await viewHost(ovs, netns, stateDir);
  const ports = [...host.ports.values()].filter((p) => p.externalIds['ovsvlan-owner'] === 'ovsvlan').map((p) => ({
    name: p.name, bridge: p.bridge, tag: p.tag,
    role: p.externalIds['ovsvlan-role'], networkId: p.externalIds['ovsvlan-network'], endpointId: p.externalIds['ovsvlan-endpoint'],
  }));
  const all = JSON.parse(await runOk('ip', ['-n', netns, '-j', 'link', 'show'])) as Array<{ ifname: string; link?: string; ifalias?: string }>;
  const links = all.filter((l) => /^ov[hc][0-9a-f]{12}$/.test(l.ifname)).map((l) => ({ name: l.ifname, peer: l.link, alias: l.ifalias || undefined }));
  return { state: host.state, ports, links };
}

/** Spare ports by network ID (ports with role spare, as OVS has them). */
export function spareCounts(view: FastpathView): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of view.ports) if (p.role === 'spare') out.set(p.networkId ?? '?', (out.get(p.networkId ?? '?') ?? 0) + 1);
  return out;
}

/** Spare ports without a tag, or with another tag than their network's VLAN: each would carry other traffic. */
export function mistaggedSpares(view: FastpathView): string[] {
  return view.ports.filter((p) => p.role === 'spare').flatMap((p) => {
    const net = view.state.networks[p.networkId ?? ''];
    const vlan = net?.['vlan'];
    return p.tag === undefined ? [`spare ${p.name} is untagged`]
      : net && p.tag !== vlan ? [`spare ${p.name} has tag ${p.tag}, its network VLAN ${String(vlan)}`] : [];
  });
}

export interface RuleOpts {
  /** Container ends are in the host netns (no Docker moved them into a sandbox). */
  containerEndsHere: boolean;
}

/** Every breach of the rules in this file's head, as readable lines (empty: all hold). */
export function fastpathProblems(view: FastpathView, opts: RuleOpts): string[] {
  const out: string[] = [];
  const { networks, endpoints } = view.state;
  const ports = new Map(view.ports.map((p) => [p.name, p]));
  const links = new Map(view.links.map((l) => [l.name, l]));
  const owner = new Map<string, string>();
  const own = (link: string, ep: string): void => {
    const other = owner.get(link);
    if (other !== undefined) out.push(`endpoints ${other.slice(0, 12)} and ${ep.slice(0, 12)} share ${link}`);
    owner.set(link, ep);
  };
  for (const [id, ep] of Object.entries(endpoints)) {
    const [hostIf, containerIf, netId] = [String(ep['hostIf']), String(ep['containerIf']), String(ep['networkId'])];
    const short = id.slice(0, 12);
    own(hostIf, id);
    own(containerIf, id);
    const net = networks[netId];
    const port = ports.get(hostIf);
    if (!net) out.push(`endpoint ${short}: its network ${netId.slice(0, 12)} has no record`);
    if (!port) out.push(`endpoint ${short}: no port ${hostIf}`);
    else if (port.role !== 'endpoint' || port.endpointId !== id || port.networkId !== netId) {
      out.push(`endpoint ${short}: port ${hostIf} is marked ${port.role}/${port.endpointId?.slice(0, 12)}, not as its own`);
    } else if (net && (port.bridge !== net['bridge'] || port.tag !== net['vlan'])) {
      out.push(`endpoint ${short}: port ${hostIf} on ${port.bridge} tag ${port.tag}, not ${String(net['bridge'])} tag ${String(net['vlan'])}`);
    }
    if (!links.has(hostIf)) out.push(`endpoint ${short}: no veth ${hostIf}`);
    if (opts.containerEndsHere && !links.has(containerIf)) out.push(`endpoint ${short}: no veth ${containerIf}`);
  }
  const spares = new Set<string>();
  for (const p of view.ports) {
    if (p.role === 'spare') {
      spares.add(p.name);
      if (p.endpointId !== undefined) out.push(`port ${p.name} is marked both spare and endpoint ${p.endpointId.slice(0, 12)}`);
      if (!networks[p.networkId ?? '']) out.push(`spare ${p.name} belongs to no live network (${p.networkId?.slice(0, 12)})`);
      else if (p.bridge !== networks[p.networkId ?? '']?.['bridge']) out.push(`spare ${p.name} is on ${p.bridge}, not its network's bridge`);
      if (owner.has(p.name)) out.push(`spare ${p.name} is also endpoint ${owner.get(p.name)?.slice(0, 12)}'s`);
      const link = links.get(p.name);
      if (!link) out.push(`spare ${p.name} has no veth`);
      else if (!link.peer || !links.has(link.peer)) out.push(`spare ${p.name} has no peer in the host netns`);
    } else if (p.role === 'endpoint' || p.endpointId !== undefined) {
      const ep = endpoints[p.endpointId ?? ''];
      if (!ep || ep['hostIf'] !== p.name) out.push(`port ${p.name} is marked for endpoint ${p.endpointId?.slice(0, 12)}, which has no record of it`);
    }
  }
  out.push(...mistaggedSpares(view));
  for (const l of view.links) {
    if (owner.has(l.name) || spares.has(l.name) || (l.peer !== undefined && spares.has(l.peer))) continue;
    out.push(`veth ${l.name} belongs to no endpoint and no spare`);
  }
  return out;
}

/**
 * Polls `look` until `problems` of what it saw is empty or `ms` pass; returns the last view
 * and its problems. Whatever `always` finds in ANY view seen (e.g. an untagged spare) is
 * returned too: such a state must never be observable, not even for a moment.
 */
export async function settle(look: () => Promise<FastpathView>, problems: (v: FastpathView) => string[],
  ms = 20_000, always: (v: FastpathView) => string[] = mistaggedSpares): Promise<{ view: FastpathView; problems: string[]; ever: string[] }> {
  const deadline = Date.now() + ms;
  const ever = new Set<string>();
  for (;;) {
    // OVS just restarted may refuse a read or two: that is a moment to wait, not a result
    const view = await look().catch((err: Error) => err);
    const now = view instanceof Error ? [`cannot observe: ${view.message}`] : problems(view);
    if (!(view instanceof Error)) for (const p of always(view)) ever.add(p);
    if (!(view instanceof Error) && (now.length === 0 || Date.now() > deadline)) return { view, problems: now, ever: [...ever] };
    if (view instanceof Error && Date.now() > deadline) throw view;
    await sleep(250);
  }
}

/** Waits until the daemon's log, past its first `from` records, has a finished reconciliation; returns it. */
export async function reconciledAfter(logFile: string, from: number, ms = 30_000): Promise<LogRecord | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const done = (await logRecords(logFile)).slice(from).find((r) => r.msg === 'reconciled');
    if (done || Date.now() > deadline) return done;
    await sleep(100);
  }
}
