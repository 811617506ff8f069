// A private Open vSwitch instance for tests: its own ovsdb-server and ovs-vswitchd,
// database, sockets and pidfiles under RUN_DIR, never the machine's own OVS.
// ovs-vswitchd runs inside `netns` so its ports and tap devices live there.
import { mkdir, rm, readFile } from 'node:fs/promises';
import type { Teardownable } from './host.js';
import { createNetns, type Netns } from './netns.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, run, runOk, stopPid } from './run.js';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

export interface OvsInstance {
  readonly dir: string;
  /** `unix:` endpoint of the database socket, as OVSVLAN_OVSDB takes it. */
  readonly endpoint: string;
  readonly dbSock: string;
  /** ovs-vsctl bound to this instance: the tests' independent observer. */
  vsctl(args: readonly string[]): Promise<string>;
  appctl(args: readonly string[]): Promise<string>;
  stopVswitchd(): Promise<void>;
  startVswitchd(): Promise<void>;
  /** Stops both daemons; with `wipe`, the database is recreated empty on the next start. */
  stop(): Promise<void>;
  start(opts?: { wipe?: boolean }): Promise<void>;
}

async function pidOf(file: string): Promise<number | undefined> {
  try {
    return Number((await readFile(file, 'utf8')).trim()) || undefined;
  } catch {
    return undefined;
  }
}

export async function startOvs(name: string, netns?: string): Promise<OvsInstance> {
  const dir = `${RUN_DIR}/ovs-${name}`;
  const dbSock = `${dir}/db.sock`;
  const db = `${dir}/conf.db`;
  const env = { OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir };
  const inNs = (cmd: string, args: string[]): [string, string[]] =>
    netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
  const vsctl = (args: readonly string[]): Promise<string> => runOk('ovs-vsctl', [`--db=unix:${dbSock}`, '--timeout=10', ...args]);

  const startDb = async (wipe: boolean): Promise<void> => {
    await ensureRunDir();
    await mkdir(dir, { recursive: true });
    if (wipe) await rm(db, { force: true });
    const exists = await run('test', ['-e', db]);
    if (exists.exitCode !== 0) await runOk('ovsdb-tool', ['create', db, SCHEMA]);
    await runOk('ovsdb-server', [db, `--remote=punix:${dbSock}`, `--pidfile=${dir}/ovsdb-server.pid`,
      `--unixctl=${dir}/ovsdb-server.ctl`, `--log-file=${dir}/ovsdb-server.log`, '-vconsole:off', '--detach', '--no-chdir'], { env });
    await runOk('ovs-vsctl', [`--db=unix:${dbSock}`, '--no-wait', 'init']);
  };
  const startVswitchd = async (): Promise<void> => {
    const [cmd, args] = inNs('ovs-vswitchd', [`unix:${dbSock}`, `--pidfile=${dir}/ovs-vswitchd.pid`,
      `--unixctl=${dir}/ovs-vswitchd.ctl`, `--log-file=${dir}/ovs-vswitchd.log`, '-vconsole:off', '--detach', '--no-chdir']);
    await runOk(cmd, args, { env });
    // returns once vswitchd has applied the configuration
    await vsctl(['set', 'Open_vSwitch', '.', 'other_config:ovsvlan-test=1']);
  };
  const stopVswitchd = async (): Promise<void> => stopPid(await pidOf(`${dir}/ovs-vswitchd.pid`));
  const stopDb = async (): Promise<void> => stopPid(await pidOf(`${dir}/ovsdb-server.pid`));

  await startDb(true);
  await startVswitchd();
  return {
    dir,
    dbSock,
    endpoint: `unix:${dbSock}`,
    vsctl,
    appctl: (args) => runOk('ovs-appctl', ['-t', `${dir}/ovs-vswitchd.ctl`, ...args]),
    stopVswitchd,
    startVswitchd,
    stop: async () => {
      await stopVswitchd();
      await stopDb();
    },
    start: async (opts = {}) => {
      await startDb(opts.wipe ?? false);
      await startVswitchd();
    },
  };
}

/** Stops the instance and removes its directory. */
export async function destroyOvs(ovs: OvsInstance): Promise<void> {
  await ovs.stop();
  await rm(ovs.dir, { recursive: true, force: true });
}

/** Kills what startOvs(name) may have started even if it failed half-way (it only returns the handle on success). */
export async function killOvsByPidfiles(name: string): Promise<void> {
  const dir = `${RUN_DIR}/ovs-${name}`;
  for (const d of ['ovs-vswitchd', 'ovsdb-server']) {
    const pid = Number((await readFile(`${dir}/${d}.pid`, 'utf8').catch(() => '')).trim());
    if (pid) await stopPid(pid);
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * A private OVS whose ovs-vswitchd runs in a netns of its own (`${RUN_PREFIX}-${name}`); both are
 * removed when `t` ends, also when the start fails half-way (killOvsByPidfiles).
 */
export async function startOvsInNetns(t: Teardownable, name: string): Promise<{ ns: Netns; ovs: OvsInstance }> {
  const ns = await createNetns(`${RUN_PREFIX}-${name}`);
  t.teardown(() => ns.remove());
  let ovs: OvsInstance | undefined;
  t.teardown(() => (ovs ? destroyOvs(ovs) : killOvsByPidfiles(name)));
  ovs = await startOvs(name, ns.name);
  return { ns, ovs };
}
