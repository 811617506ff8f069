// The ovsvlan daemon under test, started from the build (dist/main.js) inside a host's netns,
// the way a legacy (unmanaged) plugin runs next to dockerd.
import { openSync, closeSync, existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RUN_DIR, ensureRunDir, pidAlive, sleep, stopPid } from './run.js';
import { socketAnswers } from '../../src/protocol/socket.js';

/** The repository root (test/helpers/ → ../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OVSVLAN_MAIN = `${REPO_ROOT}dist/main.js`;

export type Datapath = 'netdev' | 'system' | 'auto';

export interface StartOvsvlanOpts {
  netns: string;
  /** Socket the daemon listens on (OVSVLAN_SOCKET). */
  socket: string;
  /** `unix:/…/db.sock` (OVSVLAN_OVSDB). */
  ovsdb: string;
  stateDir: string;
  bridge: string;
  datapath?: Datapath;
  /** stdout and stderr of the daemon are appended here. */
  logFile: string;
  env?: Record<string, string>;
  /**
   * The PID of a process whose mount namespace the daemon runs in (its dockerd's): there Docker's
   * sandbox netns files (Join's SandboxKey) are mounted, which a DHCP network's renewal client enters.
   */
  mountsOf?: () => number;
  /** When given, stop() is registered as its teardown. */
  t?: { teardown(fn: () => unknown): void };
}

export interface OvsvlanProcess {
  readonly pid: number;
  readonly socket: string;
  readonly logFile: string;
  /** SIGTERM by PID, then wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** SIGKILL by PID and wait: a crash, as far as the daemon can tell. */
  kill(): Promise<void>;
  /** Exit code or signal once the process has exited, undefined while it runs. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  logTail(lines?: number): Promise<string>;
}

async function tail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export { socketAnswers };

/**
 * Spawns `ip netns exec NS node dist/main.js daemon` (ip netns exec execs: the PID is node's), detached,
 * stdio to `logFile`, and waits until the socket accepts connections (15 s, then throws with the log tail).
 */
export async function startOvsvlan(opts: StartOvsvlanOpts): Promise<OvsvlanProcess> {
  const { netns, socket, logFile } = opts;
  if (!existsSync(OVSVLAN_MAIN)) throw new Error(`${OVSVLAN_MAIN} does not exist: run npm run build first`);
  await ensureRunDir();
  await mkdir(opts.stateDir, { recursive: true });
  const env: Record<string, string | undefined> = {
    ...process.env,
    OVSVLAN_SOCKET: socket,
    OVSVLAN_OVSDB: opts.ovsdb,
    OVSVLAN_STATE_DIR: opts.stateDir,
    OVSVLAN_BRIDGE: opts.bridge,
    OVSVLAN_DATAPATH: opts.datapath ?? 'netdev',
    OVSVLAN_LOG_LEVEL: 'debug',
    ...opts.env,
  };
  // node's spawn, not execa: the fd is handed to the daemon directly, nothing is piped through the test.
  const fd = openSync(logFile, 'a');
  const argv = opts.mountsOf
    ? ['nsenter', `--mount=/proc/${opts.mountsOf()}/ns/mnt`, `--net=/run/netns/${netns}`, process.execPath, OVSVLAN_MAIN, 'daemon']
    : ['ip', 'netns', 'exec', netns, process.execPath, OVSVLAN_MAIN, 'daemon'];
  const child = spawn(argv[0] ?? 'ip', argv.slice(1), { detached: true, stdio: ['ignore', fd, fd], env, cwd: REPO_ROOT });
  closeSync(fd);
  let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      status = { code: -1, signal: null };
      void err;
      resolve();
    });
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`cannot spawn ip netns exec ${netns} node ${OVSVLAN_MAIN}`);
  }
  // for scripts/cleanup-tests.sh after a crashed run; removed once the process is gone
  const pidFile = `${RUN_DIR}/ovsvlan-${pid}.pid`;
  await writeFile(pidFile, `${pid}\n`);
  const gone = exited.then(() => rm(pidFile, { force: true }));

  /**
   * Waits for our child's exit event. The timer is ref'd on purpose: the child is unref'd, so
   * without it an await here would leave Node with nothing to wait for and the test would end.
   */
  const waitExit = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gone, new Promise((r) => { timer = setTimeout(r, ms); })]);
    clearTimeout(timer);
    return status !== undefined || !pidAlive(pid);
  };
  const stop = async (): Promise<void> => {
    if (status) return gone;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    if (!(await waitExit(10_000))) await stopPid(pid, 0);
    await waitExit(5_000);
  };
  const kill = async (): Promise<void> => {
    if (status) return gone;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return;
    }
    await waitExit(5_000);
  };
  const logTail = (lines = 30): Promise<string> => tail(logFile, lines);
  opts.t?.teardown(stop);

  const deadline = Date.now() + 15_000;
  while (!(existsSync(socket) && (await socketAnswers(socket)))) {
    if (status || Date.now() > deadline) {
      const why = status ? `exited (code ${status.code}, signal ${status.signal})` : `did not listen on ${socket} within 15 s`;
      const log = await logTail();
      await kill();
      throw new Error(`ovsvlan in ${netns} ${why}; log tail:\n${log}`);
    }
    await sleep(50);
  }
  return { pid, socket, logFile, stop, kill, exitStatus: () => status, logTail };
}
