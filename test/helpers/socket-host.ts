// A host without dockerd: netns `${RUN_PREFIX}-${name}` with a private OVS and the ovsvlan
// daemon (no Docker API: OVSVLAN_DOCKER empty), driven over its socket as Docker drives it.
// Sandboxes are netns the test creates; the container end of a veth is moved into one and
// set up as Docker would (renamed eth0, address, up), and moved back before DeleteEndpoint.
import { readFile, rm } from 'node:fs/promises';
import { pluginCall } from './faults.js';
import { nsPing } from './multihost.js';
import { createNetns, type Netns } from './netns.js';
import { destroyOvs, startOvs, type OvsInstance } from './ovs.js';
import { startOvsvlan, type OvsvlanProcess } from './plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, run, runOk } from './run.js';
import { readPluginState, type PluginState, type Teardownable } from './host.js';

export interface Answer {
  status: number;
  answer: Record<string, unknown>;
}

export interface PortRow {
  bridge: string | undefined;
  tag: number | undefined;
  externalIds: Record<string, string>;
}

export interface SocketHost {
  readonly ns: Netns;
  readonly ovs: OvsInstance;
  /** OVSVLAN_BRIDGE */
  readonly bridge: string;
  readonly socket: string;
  readonly stateDir: string;
  /** The daemon's log (JSON lines), appended across restarts. */
  readonly logFile: string;
  /** POSTs `/${method}` with `body` as JSON (a string is sent as is). */
  call(method: string, body: object | string, timeoutMs?: number): Promise<Answer>;
  /** The port as OVS has it (ovs-vsctl, an outside observer), or undefined. */
  port(name: string): Promise<PortRow | undefined>;
  /** Links of the host netns by name, with their alias. */
  links(): Promise<Map<string, { alias: string | undefined }>>;
  readState(): Promise<PluginState>;
  stopDaemon(): Promise<void>;
  /** SIGKILL of the daemon by PID: a crash, as far as it can tell. */
  killDaemon(): Promise<void>;
  startDaemon(): Promise<void>;
  /** PID of this host's ovs-vswitchd (ours: started by the OVS helper). */
  vswitchdPid(): Promise<number>;
  /** A sandbox named `${RUN_PREFIX}-${name}`, removed with the host. */
  sandbox(name: string): Promise<Sandbox>;
}

export interface Sandbox {
  readonly ns: Netns;
  /** Moves `srcName` in as eth0 with `cidr` (what Docker does after Join). */
  plug(srcName: string, cidr: string): Promise<void>;
  /** Moves eth0 back to the host netns as `srcName` (what Docker does before DeleteEndpoint). */
  unplug(srcName: string): Promise<void>;
  /** Two tries of two pings: the first may go to ARP. */
  ping(ip: string): Promise<boolean>;
}

export interface SocketHostOpts {
  /** More daemon settings (OVSVLAN_DOCKER is empty unless given here). */
  env?: Record<string, string>;
}

export async function createSocketHost(name: string, t: Teardownable, opts: SocketHostOpts = {}): Promise<SocketHost> {
  await ensureRunDir();
  const stateDir = `${RUN_DIR}/state-${name}`;
  const logFile = `${RUN_DIR}/ovsvlan-${name}.log`;
  const socket = `${RUN_DIR}/${name}.sock`;
  const bridge = `${RUN_PREFIX}${name.slice(0, 3)}0`;
  const sandboxes: Netns[] = [];
  let ovs: OvsInstance | undefined;
  let daemon: OvsvlanProcess | undefined;
  const ns = await createNetns(`${RUN_PREFIX}-${name}`);
  t.teardown(async () => {
    if (t.passing && !t.passing()) console.error(`--- ovsvlan-${name} log tail\n${await daemon?.logTail(60)}`);
    await daemon?.stop();
    for (const s of sandboxes) await s.remove();
    if (ovs) await destroyOvs(ovs);
    await ns.remove();
    await rm(stateDir, { recursive: true, force: true });
    await rm(logFile, { force: true });
    await rm(socket, { force: true });
  });
  ovs = await startOvs(name, ns.name);
  const startDaemon = async (): Promise<void> => {
    daemon = await startOvsvlan({ netns: ns.name, socket, ovsdb: ovs!.endpoint, stateDir, bridge, datapath: 'netdev', logFile, env: { OVSVLAN_DOCKER: '', ...opts.env } });
  };
  await startDaemon();
  const host: SocketHost = {
    ns,
    ovs,
    bridge,
    socket,
    stateDir,
    logFile,
    call: (method, body, timeoutMs) => pluginCall(socket, `/${method}`, typeof body === 'string' ? body : JSON.stringify(body), timeoutMs),
    port: async (portName) => {
      const out = await ovs!.vsctl(['--format=json', '--columns=tag,external_ids', 'find', 'Port', `name=${portName}`]);
      const [row] = (JSON.parse(out) as { data: Array<[unknown, [string, Array<[string, string]>]]> }).data;
      if (!row) return undefined;
      const br = await run('ovs-vsctl', [`--db=unix:${ovs!.dbSock}`, 'port-to-br', portName]);
      return { bridge: br.exitCode === 0 ? br.stdout : undefined, tag: typeof row[0] === 'number' ? row[0] : undefined, externalIds: Object.fromEntries(row[1][1]) };
    },
    links: async () => {
      const list = JSON.parse(await runOk('ip', ['-n', ns.name, '-j', 'link', 'show'])) as Array<{ ifname: string; ifalias?: string }>;
      return new Map(list.map((l) => [l.ifname, { alias: l.ifalias || undefined }]));
    },
    readState: () => readPluginState(stateDir),
    stopDaemon: async () => daemon?.stop(),
    killDaemon: async () => daemon?.kill(),
    startDaemon,
    vswitchdPid: async () => Number((await readFile(`${ovs!.dir}/ovs-vswitchd.pid`, 'utf8')).trim()),
    sandbox: async (sandboxName) => {
      const sns = await createNetns(`${RUN_PREFIX}-${sandboxName}`);
      sandboxes.push(sns);
      return {
        ns: sns,
        plug: async (srcName, cidr) => {
          await ns.ip(['link', 'set', 'dev', srcName, 'netns', sns.name]);
          await sns.ip(['link', 'set', 'dev', srcName, 'name', 'eth0']);
          await sns.ip(['addr', 'add', cidr, 'dev', 'eth0']);
          await sns.ip(['link', 'set', 'eth0', 'up']);
        },
        unplug: async (srcName) => {
          await sns.ip(['link', 'set', 'eth0', 'down']);
          await sns.ip(['link', 'set', 'dev', 'eth0', 'name', srcName]);
          await sns.ip(['link', 'set', 'dev', srcName, 'netns', ns.name]);
        },
        ping: (ip) => nsPing(sns.name, ip),
      };
    },
  };
  return host;
}
