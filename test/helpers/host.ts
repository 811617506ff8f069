// One simulated Docker host: netns `${RUN_PREFIX}-${name}` + a private OVS instance running in it
// + a private dockerd (its /run/openvswitch is this OVS) with busybox:local, and on demand the
// ovsvlan daemon as that dockerd's legacy plugin `ovsvlan`.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createNetns, type Netns } from './netns.js';
import { destroyOvs, startOvs, type OvsInstance } from './ovs.js';
import { startDockerd, type Dockerd, type DockerOpts } from './dockerd.js';
import { startOvsvlan, type Datapath, type OvsvlanProcess } from './plugin.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, type RunResult } from './run.js';
import { readSavedState } from '../../src/store/journal.js';

/** What a test passes as `t`: its teardown runs host.destroy(); on failure the logs go to stderr. */
export interface Teardownable {
  teardown(fn: () => unknown): void;
  passing?(): boolean;
}

export interface HostPluginOpts {
  /** Default bridge (OVSVLAN_BRIDGE); `${RUN_PREFIX}br0` unless given. */
  bridge?: string;
  datapath?: Datapath;
  env?: Record<string, string>;
  /** Runs the daemon in dockerd's mount namespace, where the sandboxes' netns files are (DHCP networks: startOvsvlan mountsOf). */
  dockerdMounts?: boolean;
}

/** ovsvlan as this host's plugin; start()/stop() restart it with the same settings and state dir. */
export interface HostPlugin {
  readonly bridge: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly logFile: string;
  /** The current process (undefined before the first start). */
  readonly process: OvsvlanProcess | undefined;
  readonly pid: number | undefined;
  running(): boolean;
  /** Starts the daemon unless it runs; waits until it listens. */
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  logTail(lines?: number): Promise<string>;
  /** The daemon's saved state (state.json and the journal after it, as the daemon loads them), empty when not written yet. */
  readState(): Promise<PluginState>;
}

export interface PluginState {
  version: number;
  networks: Record<string, Record<string, unknown>>;
  endpoints: Record<string, Record<string, unknown>>;
  pools: Record<string, { pool: string; networkId?: string; leases: Record<string, { kind: string; endpointId?: string }> }>;
}

/** The state the daemon saved in `stateDir` (snapshot and journal, read through the daemon's own loader), empty when none. */
export async function readPluginState(stateDir: string): Promise<PluginState> {
  return (await readSavedState(stateDir)) as unknown as PluginState;
}

export interface Host {
  readonly name: string;
  readonly ns: Netns;
  readonly ovs: OvsInstance;
  readonly dockerd: Dockerd;
  readonly stateDir: string;
  docker(args: readonly string[], opts?: DockerOpts): Promise<RunResult>;
  dockerOk(args: readonly string[], opts?: DockerOpts): Promise<string>;
  readonly plugin: HostPlugin | undefined;
  /** Starts ovsvlan (stopping a previous one), socket `${dockerd.pluginDir}/ovsvlan.sock`. */
  startPlugin(opts?: HostPluginOpts): Promise<HostPlugin>;
  /** Everything in reverse order; idempotent, and safe after a partial start. */
  destroy(): Promise<void>;
}

/** `docker exec CONTAINER ARGS…` on a host; never throws. */
export function inContainer(host: Host, container: string, args: readonly string[], opts?: DockerOpts): Promise<RunResult> {
  return host.docker(['exec', container, ...args], opts);
}

async function keepLog(file: string, as: string): Promise<void> {
  const keep = process.env.OVSVLAN_TEST_KEEP_LOGS;
  if (!keep) return;
  await mkdir(keep, { recursive: true });
  await copyFile(file, `${keep}/${RUN_PREFIX}-${as}`).catch(() => undefined);
}

interface Parts {
  ns?: Netns;
  ovs?: OvsInstance;
  dockerd?: Dockerd;
  plugins: HostPlugin[];
}

/** Tears down whatever of a host exists, in reverse order; collects errors instead of stopping at the first. */
async function teardown(name: string, p: Parts, stateDir: string, pluginLog: string): Promise<void> {
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      errors.push(err);
    }
  };
  // containers and networks first, while the plugin still answers dockerd's Leave/DeleteNetwork
  if (p.dockerd) await step(() => p.dockerd!.clean());
  for (const pl of p.plugins) await step(() => pl.stop());
  if (p.dockerd) await step(() => p.dockerd!.stop());
  if (p.ovs) await step(() => destroyOvs(p.ovs!));
  if (p.ns) await step(() => p.ns!.remove());
  await step(() => keepLog(pluginLog, `ovsvlan-${name}.log`));
  await step(() => rm(stateDir, { recursive: true, force: true }));
  await step(() => rm(pluginLog, { force: true }));
  if (errors.length) throw new AggregateError(errors, `host ${name}: teardown failed: ${errors.map(String).join('; ')}`);
}

export async function createHost(name: string, t?: Teardownable): Promise<Host> {
  await ensureRunDir();
  const stateDir = `${RUN_DIR}/state-${name}`;
  const pluginLog = `${RUN_DIR}/ovsvlan-${name}.log`;
  const parts: Parts = { plugins: [] };
  let current: HostPlugin | undefined;
  let destroying: Promise<void> | undefined;
  const destroy = (): Promise<void> => (destroying ??= teardown(name, parts, stateDir, pluginLog));

  t?.teardown(async () => {
    if (t.passing && !t.passing()) {
      const logs = [`--- dockerd-${name} log tail`, await parts.dockerd?.logTail(40)];
      if (current) logs.push(`--- ovsvlan-${name} log tail`, await current.logTail(60));
      console.error(logs.filter((l) => l !== undefined).join('\n'));
    }
    await destroy();
  });

  try {
    parts.ns = await createNetns(`${RUN_PREFIX}-${name}`);
    parts.ovs = await startOvs(name, parts.ns.name);
    parts.dockerd = await startDockerd({ name, netns: parts.ns.name, ovsDir: parts.ovs.dir });
    await parts.dockerd.loadBusybox();
  } catch (err) {
    await destroy().catch(() => undefined);
    throw err;
  }
  const { ns, ovs, dockerd } = parts;

  const startPlugin = async (opts: HostPluginOpts = {}): Promise<HostPlugin> => {
    if (current) await current.stop();
    const settings = {
      netns: ns.name,
      socket: `${dockerd.pluginDir}/ovsvlan.sock`,
      ovsdb: ovs.endpoint,
      stateDir,
      bridge: opts.bridge ?? `${RUN_PREFIX}br0`,
      datapath: opts.datapath ?? 'netdev',
      logFile: pluginLog,
      // the daemon reads Docker's view from this host's dockerd when it reconciles
      env: { OVSVLAN_DOCKER: `unix://${dockerd.sock}`, ...opts.env },
      ...(opts.dockerdMounts ? { mountsOf: () => dockerd.pid } : {}),
    } as const;
    let proc: OvsvlanProcess | undefined;
    const running = (): boolean => proc !== undefined && proc.exitStatus() === undefined;
    const plugin: HostPlugin = {
      bridge: settings.bridge,
      socket: settings.socket,
      stateDir,
      logFile: pluginLog,
      get process() {
        return proc;
      },
      get pid() {
        return proc?.pid;
      },
      running,
      start: async () => {
        if (!running()) proc = await startOvsvlan(settings);
      },
      stop: async () => proc?.stop(),
      kill: async () => proc?.kill(),
      logTail: async (lines = 30) => (proc ? proc.logTail(lines) : ''),
      readState: () => readPluginState(stateDir),
    };
    parts.plugins.push(plugin);
    current = plugin;
    await plugin.start();
    return plugin;
  };

  return {
    name,
    ns,
    ovs,
    dockerd,
    stateDir,
    docker: (args, o) => dockerd.docker(args, o),
    dockerOk: (args, o) => dockerd.dockerOk(args, o),
    get plugin() {
      return current;
    },
    startPlugin,
    destroy,
  };
}
