// A private dockerd per simulated host (port of the harness' dockerd_start/dockerd_stop/image_load).
// It runs in the host's netns (nsenter --net: `ip netns exec` remounts /sys and hides the
// cgroup v1 mounts) and in its own mount namespace (unshare -m) where
//  - /run/docker/plugins is a bind mount of `pluginDir`: this daemon sees only its host's plugin sockets;
//  - /run/containerd is hidden by a tmpfs: dockerd starts its own managed containerd in the same namespaces;
//  - /run/openvswitch is a bind mount of the host's OVS dir (for managed plugins mounting it).
// Nothing touches the machine's own Docker: own data-root, exec-root, socket, pidfile and cgroup parent.
import { openSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { appendFile, copyFile, mkdir, readdir, readFile, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, pidAlive, runOk, sleep, stopPid, type RunResult } from './run.js';

export interface Dockerd {
  readonly name: string;
  readonly netns: string;
  /** Path of the API socket; `docker -H unix://${sock}`. */
  readonly sock: string;
  /** Host dir seen as /run/docker/plugins by this dockerd: a legacy plugin `X` listens on `${pluginDir}/X.sock`. */
  readonly pluginDir: string;
  readonly pid: number;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly logFile: string;
  /** Runs the docker CLI against this daemon; never throws. */
  docker(args: readonly string[], opts?: DockerOpts): Promise<RunResult>;
  /** Same, throws with stderr on a non-zero exit; returns trimmed stdout. */
  dockerOk(args: readonly string[], opts?: DockerOpts): Promise<string>;
  /** Imports `busybox:local` from the static /bin/busybox (every applet linked in /bin). */
  loadBusybox(): Promise<void>;
  /** Removes all containers, custom networks and plugins (call while network plugins still run). */
  clean(): Promise<void>;
  /** clean(), stop dockerd by PID and wait, then remove its dirs, sockets and cgroups. Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops dockerd by PID (SIGTERM, as a host shutdown would: no clean(), so containers, networks and
   * plugins stay in its data-root) and starts it again with the same settings; waits until the API
   * answers (within `upWithinMs`, 30 s by default: a dockerd restoring containers whose network
   * plugin is missing answers only after it gave up on them). `pid` is the new process afterwards.
   */
  restart(upWithinMs?: number): Promise<void>;
  logTail(lines?: number): Promise<string>;
}

export interface DockerOpts {
  /** Sent on stdin (e.g. `docker exec -i`). */
  input?: string | Buffer;
  timeout?: number;
}

export interface StartDockerdOpts {
  name: string;
  netns: string;
  ovsDir?: string;
  /** When given, stop() is registered as its teardown. */
  t?: { teardown(fn: () => unknown): void };
}

/** The docker CLI: `docker` on PATH (a newer client negotiates API 1.41 with dockerd 20.10). */
export const DOCKER_CLI = process.env.OVSVLAN_TEST_DOCKER ?? 'docker';
const BUSYBOX = '/bin/busybox';
const MOUNTPOINTS_FILE = '/run/ovsvlan-test/created-mountpoints';

/** Environment for the CLI: no inherited context/host/TLS settings, a private config dir. */
function cliEnv(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^DOCKER_(HOST|CONTEXT|TLS_VERIFY|CERT_PATH|CONFIG)$/.test(k)) env[k] = v;
  }
  env.DOCKER_CONFIG = `${RUN_DIR}/docker-cli-${name}`;
  env.DOCKER_CLI_HINTS = 'false';
  return env;
}

/** GET /_ping on the API socket: cheaper than spawning the CLI while polling. */
function ping(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: sock, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function tail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * The bind-mount targets must exist on the (shared) root filesystem. Any we have to create
 * are recorded so scripts/cleanup-tests.sh can remove them once no run is alive.
 */
async function ensureMountpoints(paths: readonly string[]): Promise<void> {
  for (const p of paths) {
    const first = await mkdir(p, { recursive: true });
    if (!first) continue;
    // leaf first, up to the first dir we created: the order rmdir needs
    const created: string[] = [];
    for (let d = p; d.length >= first.length; d = dirname(d)) created.push(d);
    await appendFile(MOUNTPOINTS_FILE, `${created.join('\n')}\n`);
  }
}

/** Removes a cgroup dir and its (empty) children bottom-up; rmdir only, never a live cgroup. */
async function rmdirCgroup(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await rmdirCgroup(`${dir}/${e.name}`);
  await rmdir(dir).catch(() => undefined);
}

export async function removeCgroups(cgroupName: string): Promise<void> {
  const bases = ['/sys/fs/cgroup', ...(await readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((d) => `/sys/fs/cgroup/${d}`)];
  for (const b of bases) await rmdirCgroup(`${b}/${cgroupName}`);
}

/** Starts the daemon and waits until its API answers (30 s, then throws with the log tail). */
export async function startDockerd(opts: StartDockerdOpts): Promise<Dockerd> {
  const { name, netns, ovsDir } = opts;
  await ensureRunDir();
  const base = `${RUN_DIR}/docker-${name}`;
  const sock = `${base}.sock`;
  const pidFile = `${base}.pid`;
  const configFile = `${base}.json`;
  const keyFile = `${base}-key.json`;
  const logFile = `${RUN_DIR}/dockerd-${name}.log`;
  const pluginDir = `${RUN_DIR}/plugins-${name}`;
  const execRoot = base;
  const dataRoot = `/var/lib/${RUN_PREFIX}-docker-${name}`;
  const cgroupName = `${RUN_PREFIX}-docker-${name}`;
  const env = cliEnv(name);

  await mkdir(pluginDir, { recursive: true });
  await mkdir(dataRoot, { recursive: true });
  await mkdir(env.DOCKER_CONFIG as string, { recursive: true });
  // otherwise dockerd 20.10 writes its libtrust key to the machine's /etc/docker/key.json (config-file only setting)
  await writeFile(configFile, `${JSON.stringify({ 'deprecated-key-path': keyFile })}\n`);
  const mountpoints = ['/run/docker/plugins', '/run/containerd', ...(ovsDir ? ['/run/openvswitch'] : [])];
  await ensureMountpoints(mountpoints);

  // sh only because the mounts must happen inside the new mount namespace; values are positional.
  const script = [
    'set -e',
    'mount --bind "$1" /run/docker/plugins',
    'mount -t tmpfs -o mode=0711 tmpfs /run/containerd',
    'if [ -n "$2" ]; then mount --bind "$2" /run/openvswitch; fi',
    'shift 2',
    'exec dockerd "$@"',
  ].join('\n');
  const dockerdArgs = ['--config-file', configFile, '--data-root', dataRoot, '--exec-root', execRoot,
    '-H', `unix://${sock}`, '--pidfile', pidFile, '--bridge=none', '--iptables=false', '--ip-forward=false',
    '--ip-masq=false', '--userland-proxy=false', `--cgroup-parent=/${cgroupName}`];
  // node's spawn, not execa: execa's types take no runtime fd and its file targets are piped through
  // this process, which a daemon outliving a crashed test must not depend on.
  // per launch: after a restart, the old process' late exit event must not mark the new one
  let life = { exited: false };
  const launch = (): number => {
    const logFd = openSync(logFile, 'a');
    // nsenter, unshare and sh all exec: the child's PID is dockerd's PID.
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, 'unshare', '-m', '--propagation', 'slave',
      'sh', '-c', script, 'sh', pluginDir, ovsDir ?? '', ...dockerdArgs], { detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const mine = { exited: false };
    life = mine;
    child.on('exit', () => { mine.exited = true; });
    child.on('error', () => { mine.exited = true; });
    child.unref();
    if (child.pid === undefined) throw new Error(`dockerd-${name}: spawn failed`);
    return child.pid;
  };
  let pid = launch();

  const docker = async (args: readonly string[], o: DockerOpts = {}): Promise<RunResult> => {
    const common = { reject: false, env, extendEnv: false, timeout: o.timeout ?? 120_000 } as const;
    const argv = ['-H', `unix://${sock}`, ...args];
    const r = o.input !== undefined
      ? await execa(DOCKER_CLI, argv, { ...common, input: o.input })
      : await execa(DOCKER_CLI, argv, { ...common, stdin: 'ignore' });
    return { stdout: String(r.stdout ?? '').trim(), stderr: String(r.stderr ?? '').trim(), exitCode: r.exitCode ?? -1 };
  };
  const dockerOk = async (args: readonly string[], o: DockerOpts = {}): Promise<string> => {
    const r = await docker(args, o);
    if (r.exitCode !== 0) throw new Error(`docker ${args.join(' ')} (dockerd-${name}) failed (${r.exitCode}): ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const logTail = (lines = 30): Promise<string> => tail(logFile, lines);

  const clean = async (): Promise<void> => {
    if (!(await ping(sock))) return;
    const ids = (await docker(['ps', '-aq'])).stdout.split(/\s+/).filter(Boolean);
    if (ids.length) await docker(['rm', '-f', ...ids], { timeout: 60_000 });
    const nets = (await docker(['network', 'ls', '--filter', 'type=custom', '-q'])).stdout.split(/\s+/).filter(Boolean);
    for (const n of nets) await docker(['network', 'rm', n], { timeout: 60_000 });
    const plugins = (await docker(['plugin', 'ls', '-q'])).stdout.split(/\s+/).filter(Boolean);
    for (const p of plugins) await docker(['plugin', 'rm', '-f', p], { timeout: 60_000 });
  };

  /** Stops dockerd by PID, and its managed containerd should it outlive it; files stay. */
  const halt = async (): Promise<void> => {
    const containerdPidFile = `${execRoot}/containerd/containerd.pid`;
    const containerdPid = Number((await readFile(containerdPidFile, 'utf8').catch(() => '')).trim()) || undefined;
    await stopPid(pid, 20_000);
    // dockerd stops its managed containerd; only after a SIGKILL could it be left behind
    if (containerdPid && pidAlive(containerdPid)) {
      const cmd = await readFile(`/proc/${containerdPid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes(execRoot)) await stopPid(containerdPid, 5_000);
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await clean().catch(() => undefined);
      await halt();
      const keep = process.env.OVSVLAN_TEST_KEEP_LOGS;
      if (keep) {
        await mkdir(keep, { recursive: true });
        await copyFile(logFile, `${keep}/${RUN_PREFIX}-dockerd-${name}.log`).catch(() => undefined);
      }
      for (const p of [dataRoot, execRoot, sock, pidFile, configFile, keyFile, pluginDir, logFile, env.DOCKER_CONFIG as string]) {
        await rm(p, { recursive: true, force: true, maxRetries: 3 });
      }
      await removeCgroups(cgroupName);
    })();
    return stopping;
  };
  opts.t?.teardown(stop);

  const waitUp = async (withinMs = 30_000): Promise<void> => {
    const deadline = Date.now() + withinMs;
    while (!(await ping(sock))) {
      if (life.exited || Date.now() > deadline) {
        const why = life.exited ? 'exited' : `did not answer within ${withinMs / 1000} s`;
        const log = await logTail();
        await stop();
        throw new Error(`dockerd-${name} ${why}; log tail:\n${log}`);
      }
      await sleep(100);
    }
  };
  await waitUp();
  const restart = async (upWithinMs?: number): Promise<void> => {
    if (stopping) throw new Error(`dockerd-${name} is stopped for good`);
    await halt();
    await ensureMountpoints(mountpoints); // scripts/cleanup-tests.sh may have removed them meanwhile
    pid = launch();
    await waitUp(upWithinMs);
  };

  const loadBusybox = async (): Promise<void> => {
    if ((await execa('ldd', [BUSYBOX], { reject: false })).exitCode === 0) {
      throw new Error(`${BUSYBOX} is dynamically linked: install busybox-static`);
    }
    const dir = `${RUN_DIR}/busybox-${name}`;
    await rm(dir, { recursive: true, force: true });
    for (const d of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev']) await mkdir(`${dir}/rootfs/${d}`, { recursive: true });
    await copyFile(BUSYBOX, `${dir}/rootfs/bin/busybox`);
    const applets = (await runOk(BUSYBOX, ['--list'])).split('\n').filter((a) => a && a !== 'busybox');
    for (const need of ['sh', 'ping', 'nc', 'ip', 'sleep', 'cat', 'ls', 'ifconfig', 'route', 'wget', 'md5sum', 'stat', 'head']) {
      if (!applets.includes(need)) throw new Error(`${BUSYBOX} lacks the ${need} applet`);
    }
    await Promise.all(applets.map((a) => symlink('busybox', `${dir}/rootfs/bin/${a}`)));
    await runOk('tar', ['-C', `${dir}/rootfs`, '-cf', `${dir}/rootfs.tar`, '.']);
    try {
      await dockerOk(['import', '-c', 'ENV PATH=/bin', '-c', 'CMD ["sh"]', `${dir}/rootfs.tar`, 'busybox:local']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  return {
    name, netns, sock, pluginDir, dataRoot, execRoot, logFile, docker, dockerOk, loadBusybox, clean, stop, restart, logTail,
    get pid() {
      return pid;
    },
  };
}
