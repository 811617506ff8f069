// When the dockerd behind a Unix socket started. The revive (reconcile/revive.ts)
// needs it: at its start dockerd tries every container whose restart policy
// asks for it, and a failure of those leaves no time in `docker inspect`
// (measured on dockerd 20.10: State.StartedAt and State.FinishedAt stay as
// they were). Docker's API does not say when dockerd started, so it is read
// from /proc, read-only:
//
//   /proc/net/unix          the inode of the socket listening on the path
//                           (this network namespace's sockets: dockerd and
//                           ovsvlan share one on a host)
//   /proc/PID/comm, fd/*    the `dockerd` process holding that socket (with
//                           socket activation systemd holds it too)
//   /proc/PID/stat, /proc/stat   its start, in clock ticks after boot, and the boot time
//
// Anything unreadable (another namespace, a remote dockerd) gives undefined.
import { readdir, readFile, readlink, realpath } from 'node:fs/promises';

/** USER_HZ, the unit of /proc/PID/stat times: 100 on every architecture Docker runs on. */
const TICKS_PER_SECOND = 100;
/** __SO_ACCEPTCON in /proc/net/unix's Flags: a listening socket. */
const ACCEPTCON = 0x10000;

/** The time dockerd listening on `socketPath` started, in ms since the epoch; undefined when it cannot be found. */
export async function dockerdStartedAt(socketPath: string): Promise<number | undefined> {
  try {
    const paths = new Set([socketPath, await realpath(socketPath).catch(() => socketPath)]);
    const inodes = listeningInodes(await readFile('/proc/net/unix', 'utf8'), paths);
    if (inodes.size === 0) return undefined;
    const pid = await holder(inodes);
    if (pid === undefined) return undefined;
    const ticks = startTicks(await readFile(`/proc/${pid}/stat`, 'utf8'));
    const btime = bootTime(await readFile('/proc/stat', 'utf8'));
    return ticks === undefined || btime === undefined ? undefined : btime * 1000 + (ticks * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Inodes of the listening sockets bound to one of `paths`, from /proc/net/unix. */
export function listeningInodes(procNetUnix: string, paths: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  // Num RefCount Protocol Flags Type St Inode Path
  for (const line of procNetUnix.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const [flags, inode, path] = [f[3], f[6], f.slice(7).join(' ')];
    if (flags && inode && paths.has(path) && (parseInt(flags, 16) & ACCEPTCON) !== 0) out.add(inode);
  }
  return out;
}

/** Field 22 of /proc/PID/stat, starttime: clock ticks after boot. Fields are counted after the `(comm)`, which may hold spaces. */
export function startTicks(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = Number(fields[22 - 3]);
  return Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** `btime` of /proc/stat: the boot time in seconds since the epoch. */
export function bootTime(procStat: string): number | undefined {
  const m = /^btime (\d+)$/m.exec(procStat);
  return m ? Number(m[1]) : undefined;
}

/** The pid of a `dockerd` process with one of `inodes` open. */
async function holder(inodes: ReadonlySet<string>): Promise<number | undefined> {
  const wanted = new Set([...inodes].map((i) => `socket:[${i}]`));
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'dockerd') continue;
    const fds = await readdir(`/proc/${entry}/fd`).catch((): string[] => []);
    for (const fd of fds) {
      if (wanted.has(await readlink(`/proc/${entry}/fd/${fd}`).catch(() => ''))) return Number(entry);
    }
  }
  return undefined;
}
