// The ovs-docker way (openvswitch/ovs utilities/ovs-docker: add-port, set-vlan, del-port), its
// commands spawned one by one, on a bridge of its own filled with ports made the same way in bulk.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Host } from '../helpers/host.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { deleteVethsExcept, ipBatch, vethNames } from './links.js';
import type { Scale, Series, Window } from './types.js';

const exec = promisify(execFile);
const VLAN = 78;

/** Measures the command sequence on `host`'s OVS; removes its bridge and veths after. */
export async function benchOvsDocker(host: Host, scale: Scale, say: (line: string) => void): Promise<Series> {
  const ns = host.ns.name;
  const bridge = `${RUN_PREFIX}od`;
  const vsctl = (args: readonly string[]): Promise<unknown> => exec('ovs-vsctl', [`--db=${host.ovs.endpoint}`, '--timeout=60', ...args]);
  const ip = (args: readonly string[]): Promise<unknown> => exec('ip', ['-n', ns, ...args]);
  const step = async (parts: Record<string, number[]>, name: string, fn: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now();
    await fn();
    (parts[name] ??= []).push(performance.now() - t0);
  };
  const before = await vethNames(ns);
  try {
    await vsctl(['add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev']);
    const windows: Window[] = [];
    let filled = 0;
    for (const level of scale.levels) {
      const t0 = Date.now();
      await fill(ns, bridge, filled, level, vsctl);
      filled = level;
      say(`ovs-docker: ${filled} ports on ${bridge} (fill ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      const w: Window = { ports: level, attach: [], detach: [], parts: {} };
      for (let i = 0; i < scale.window; i++) {
        const port = `${RUN_PREFIX}w${i}l`;
        const peer = `${RUN_PREFIX}w${i}c`;
        const a0 = performance.now();
        await step(w.parts, 'ip link add (veth)', () => ip(['link', 'add', port, 'type', 'veth', 'peer', 'name', peer]));
        await step(w.parts, 'ovs-vsctl add-port', () => vsctl(['--may-exist', 'add-port', bridge, port, '--', 'set', 'interface', port,
          `external_ids:container_id=${RUN_PREFIX}-c${i}`, 'external_ids:container_iface=eth0']));
        await step(w.parts, 'ip link set up', () => ip(['link', 'set', port, 'up']));
        await step(w.parts, 'ovs-vsctl set port tag', () => vsctl(['set', 'port', port, `tag=${VLAN}`]));
        w.attach.push(performance.now() - a0);
        const d0 = performance.now();
        await step(w.parts, 'ovs-vsctl del-port', () => vsctl(['--if-exists', 'del-port', port]));
        await step(w.parts, 'ip link delete', () => ip(['link', 'delete', port]));
        w.detach.push(performance.now() - d0);
      }
      windows.push(w);
    }
    return { key: 'ovs-docker', label: 'ovs-docker commands', windows,
      attachIs: '`ip link add` veth, `ovs-vsctl add-port` with external_ids, `ip link set up`, `ovs-vsctl set port tag` (4 processes)',
      detachIs: '`ovs-vsctl del-port`, `ip link delete` (2 processes)' };
  } finally {
    await vsctl(['--if-exists', 'del-br', bridge]).catch(() => undefined);
    await deleteVethsExcept(ns, before).catch(() => undefined);
  }
}

/** Adds ports `from`…`to - 1` (veth, up, tagged, with external_ids) in bulk: one `ip -batch`, one transaction per 250. */
async function fill(ns: string, bridge: string, from: number, to: number, vsctl: (args: readonly string[]) => Promise<unknown>): Promise<void> {
  const names = Array.from({ length: to - from }, (_, k) => from + k);
  await ipBatch(ns, names.flatMap((i) => [`link add ${RUN_PREFIX}f${i} type veth peer name ${RUN_PREFIX}g${i}`, `link set ${RUN_PREFIX}f${i} up`]));
  for (let k = 0; k < names.length; k += 250) {
    await vsctl(names.slice(k, k + 250).flatMap((i) => ['--', 'add-port', bridge, `${RUN_PREFIX}f${i}`, `tag=${VLAN}`,
      '--', 'set', 'interface', `${RUN_PREFIX}f${i}`, `external_ids:container_id=${RUN_PREFIX}-f${i}`, 'external_ids:container_iface=eth0']));
  }
}
