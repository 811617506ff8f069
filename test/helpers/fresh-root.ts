// A "fresh machine" for the scripts that set a host up (scripts/quickstart.sh): a network
// namespace and a private mount namespace, both made here and named with RUN_PREFIX, in which
//  - /run and /tmp are empty tmpfs: what a script starts there (dockerd, containerd, OVS, the
//    plugin) keeps its sockets and pidfiles out of the machine's reach, and the machine's out of its;
//  - /etc and /var/lib are tmpfs holding a bind mount of every entry of the real ones but HIDDEN
//    (openvswitch, docker, …): those do not exist, as on a machine where nothing ran yet, and
//    whatever a script creates at that level lands on the tmpfs, where listing() sees it;
//  - the copies of the machine's mounts under /run (other runs' netns) are detached first, so
//    this namespace keeps none of them alive.
// The mount namespace lives on as a bind mount of its nsfs file under RUN_DIR, so commands enter
// it one after another (nsenter, which also keeps /sys and its cgroup mounts as they are).
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { removeCgroups } from './dockerd.js';
import { createNetns } from './netns.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, run, runOk, stopPid, type RunResult } from './run.js';

/** Entries of /etc and /var/lib that a fresh machine does not have. */
export const HIDDEN: Readonly<Record<string, readonly string[]>> = {
  '/etc': ['openvswitch', 'docker'],
  '/var/lib': ['openvswitch', 'docker', 'containerd', 'ovsvlan', 'ovsvlan-quickstart'],
};
/** Where listing() looks for what a script left. */
const WATCHED = ['/run', '/tmp', '/etc', '/var/lib'];

export interface FreshRoot {
  readonly netns: string;
  /** Runs a command inside both namespaces (cwd /); never throws. */
  run(cmd: string, args: readonly string[], opts?: { env?: Record<string, string>; timeout?: number }): Promise<RunResult>;
  runOk(cmd: string, args: readonly string[]): Promise<string>;
  /** Starts a daemon inside that stays in the foreground; returns its PID (its output goes to `logFile`). */
  spawnDaemon(cmd: string, args: readonly string[], logFile: string): number;
  /** Every path under /run, /tmp, /etc and /var/lib on this root's own tmpfs (bind-mounted entries are not entered), sorted. */
  listing(): Promise<string[]>;
  /** PIDs of the processes inside the mount namespace, and in the cgroup `cgroupParent` (containers). */
  processes(): Promise<number[]>;
  /** Stops every process inside by PID, unmounts, deletes the namespaces and the cgroup dirs. Idempotent. */
  remove(): Promise<void>;
}

export interface FreshRootOpts {
  /** A cgroup dir (under each hierarchy) whose processes belong to this root: dockerd's --cgroup-parent. */
  cgroupParent?: string;
  /** Runs first in remove(), e.g. the script's own cleanup. */
  beforeRemove?: () => Promise<unknown>;
  t?: { teardown(fn: () => unknown): void };
}

/** PIDs listed in `cgroup.procs` under `/sys/fs/cgroup[/*]/name`, recursively. */
async function cgroupPids(name: string): Promise<number[]> {
  const bases = ['/sys/fs/cgroup', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((d) => `/sys/fs/cgroup/${d}`)];
  const pids = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.isDirectory()) await walk(`${dir}/${e.name}`);
      else if (e.name === 'cgroup.procs') {
        for (const p of (await readFile(`${dir}/${e.name}`, 'utf8').catch(() => '')).split('\n')) if (p) pids.add(Number(p));
      }
    }
  };
  for (const b of bases) await walk(`${b}/${name}`);
  return [...pids];
}

export async function createFreshRoot(name: string, opts: FreshRootOpts = {}): Promise<FreshRoot> {
  await ensureRunDir();
  const netns = `${RUN_PREFIX}-${name}`;
  const dir = `${RUN_DIR}/fresh-${name}`;
  const mntFile = `${dir}/mnt`;
  const inMnt = (cmd: string, args: readonly string[]): Promise<string> => runOk('nsenter', [`--mount=${mntFile}`, cmd, ...args]);
  const nsArgs = [`--mount=${mntFile}`, `--net=/run/netns/${netns}`];

  let removing: Promise<void> | undefined;
  const processes = async (): Promise<number[]> => {
    const ino = (await stat(mntFile).catch(() => undefined))?.ino;
    const pids = new Set(opts.cgroupParent ? await cgroupPids(opts.cgroupParent) : []);
    if (ino !== undefined) {
      for (const p of await readdir('/proc')) {
        if (/^\d+$/.test(p) && (await readlink(`/proc/${p}/ns/mnt`).catch(() => '')) === `mnt:[${ino}]`) pids.add(Number(p));
      }
    }
    pids.delete(process.pid);
    return [...pids].sort((a, b) => a - b);
  };
  const remove = (): Promise<void> => {
    removing ??= (async () => {
      await opts.beforeRemove?.().catch(() => undefined);
      await Promise.all((await processes()).map((pid) => stopPid(pid, 20_000).catch(() => undefined)));
      await run('umount', [mntFile]);
      await run('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
      await run('ip', ['netns', 'del', netns]);
      if (opts.cgroupParent) await removeCgroups(opts.cgroupParent);
    })();
    return removing;
  };
  opts.t?.teardown(remove);

  await createNetns(netns);
  await mkdir(dir, { recursive: true });
  // an nsfs file can only be bind-mounted onto a mount with private propagation
  await runOk('mount', ['--bind', dir, dir]);
  await runOk('mount', ['--make-private', dir]);
  await writeFile(mntFile, '');
  await runOk('unshare', [`--mount=${mntFile}`, '--propagation', 'private', 'true']);

  const copies = (await inMnt('findmnt', ['-rn', '-o', 'TARGET'])).split('\n').filter((m) => m.startsWith('/run/'));
  for (const m of copies.sort().reverse()) await inMnt('umount', ['-l', m]);
  await inMnt('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run']);
  await inMnt('mount', ['-t', 'tmpfs', '-o', 'mode=1777', 'tmpfs', '/tmp']);
  for (const [parent, hidden] of Object.entries(HIDDEN)) {
    const stash = '/run/.stash';
    await inMnt('mkdir', [stash]);
    await inMnt('mount', ['--bind', parent, stash]);
    await inMnt('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', parent]);
    for (const e of await readdir(parent, { withFileTypes: true })) {
      if (hidden.includes(e.name)) continue;
      const path = `${parent}/${e.name}`;
      if (e.isSymbolicLink()) {
        await inMnt('ln', ['-s', await readlink(path), path]);
        continue;
      }
      await inMnt(e.isDirectory() ? 'mkdir' : 'touch', [path]);
      await inMnt('mount', ['--bind', `${stash}/${e.name}`, path]);
    }
    await inMnt('umount', [stash]);
    await inMnt('rmdir', [stash]);
  }

  return {
    netns,
    run: (cmd, args, o = {}) => run('nsenter', [...nsArgs, cmd, ...args], {
      timeout: o.timeout ?? 120_000, ...(o.env ? { env: o.env } : {}),
    }),
    runOk: (cmd, args) => runOk('nsenter', [...nsArgs, cmd, ...args]),
    spawnDaemon: (cmd, args, logFile) => {
      const fd = openSync(logFile, 'a');
      // nsenter execs (no PID namespace to enter): the child's PID is the daemon's
      const child = spawn('nsenter', [...nsArgs, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      child.unref();
      if (child.pid === undefined) throw new Error(`${cmd}: spawn failed`);
      return child.pid;
    },
    listing: async () => (await runOk('nsenter', [`--mount=${mntFile}`, 'find', ...WATCHED, '-xdev'])).split('\n').sort(),
    processes,
    remove,
  };
}
