// A private etcd cluster for the cluster-mode tests: N `etcd` members (Debian's etcd-server 3.4),
// data dirs, logs and pidfiles under RUN_DIR/etcd-<name>/ (scripts/cleanup-tests.sh stops what a
// crashed run left by those pidfiles), a per-run cluster token. Never the machine's own etcd.
//  - loopback mode (default): on 127.0.0.1, each member's client and peer port picked free for this run;
//  - netns mode (`netns` + `address`): inside a test's own netns (the hub of test/helpers/cluster.ts),
//    on `address` with fixed ports 2379+2i (client) and 2380+2i (peer): that netns is private.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import type { Teardownable } from './host.js';
import { RUN_DIR, RUN_PREFIX, ensureRunDir, pidAlive, run, stopPid, waitFor, type RunResult } from './run.js';

export interface EtcdMember {
  /** etcd's member name, `${RUN_PREFIX}-<cluster>-m<i>`. */
  readonly name: string;
  /** `http://127.0.0.1:<port>`: what a client (and OVSVLAN_ETCD) is given. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The running process, undefined while stopped. */
  readonly pid: number | undefined;
  running(): boolean;
}

export interface EtcdCluster {
  readonly dir: string;
  readonly members: readonly EtcdMember[];
  /** Every member's client URL, in member order. */
  readonly endpoints: readonly string[];
  /** `etcdctl` (API v3) against `endpoints` (default: every member's); never throws. */
  etcdctl(args: readonly string[], endpoints?: readonly string[]): Promise<RunResult>;
  /** Stops member `i` by PID (SIGTERM, then SIGKILL); its data dir stays. */
  stop(i: number): Promise<void>;
  /** Starts member `i` again on the same ports and data dir; resolves once it answers as healthy. */
  start(i: number): Promise<void>;
  /** Stops every member by PID and removes the cluster's directory; idempotent. */
  destroy(): Promise<void>;
}

export interface EtcdClusterOpts {
  members?: number;
  /** When given, destroy() is registered as its teardown. */
  t?: Teardownable;
  /** Run the members (and etcdctl) inside this netns; needs `address`. */
  netns?: string;
  /** The address the members listen on inside `netns` (no prefix length). */
  address?: string;
  /** Serve clients over TLS (https:// client URLs) and require client certificates signed by `ca`; peers stay plain. */
  tls?: EtcdTls;
}

/** PEM file paths for a TLS cluster: the members' certificate (valid for their address) and the one etcdctl presents. */
export interface EtcdTls {
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** The netns mode's fixed ports: member i listens on 2379+2i (client) and 2380+2i (peer). */
const fixedPorts = (n: number): number[] => Array.from({ length: 2 * n }, (_, k) => 2379 + k);

/** `ip netns exec NS` in front of a command when `netns` is given. */
const inNetns = (netns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] =>
  netns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', netns, cmd, ...args]];

/** The command name of a PID (/proc/PID/comm), '' when it is gone. */
function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** `n` distinct free TCP ports on 127.0.0.1: all held open at once, so none is handed out twice. */
async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => {
      const a = s.address();
      if (a === null || typeof a === 'string') throw new Error('freePorts: no TCP address');
      return a.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/**
 * Starts a private etcd cluster of `members` (default 3) for a test and resolves once
 * `etcdctl endpoint health --cluster` reports every member healthy.
 */
export async function startEtcdCluster(name: string, opts: EtcdClusterOpts = {}): Promise<EtcdCluster> {
  const count = opts.members ?? 3;
  const { netns } = opts;
  if ((netns === undefined) !== (opts.address === undefined)) throw new Error('startEtcdCluster: netns and address go together');
  const host = opts.address ?? '127.0.0.1';
  await ensureRunDir();
  const dir = `${RUN_DIR}/etcd-${name}`;
  await mkdir(dir, { recursive: true });
  const ports = netns === undefined ? await freePorts(2 * count) : fixedPorts(count);
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `${RUN_PREFIX}-${name}-m${i}`,
    clientUrl: `${opts.tls ? 'https' : 'http'}://${host}:${ports[2 * i]}`,
    peerUrl: `http://${host}:${ports[2 * i + 1]}`,
    dataDir: `${dir}/m${i}.data`,
    logFile: `${dir}/m${i}.log`,
    pidFile: `${dir}/m${i}.pid`,
  }));
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  const token = `${RUN_PREFIX}-${name}-${process.pid}`;
  const pids: (number | undefined)[] = specs.map(() => undefined);
  const spec = (i: number): (typeof specs)[number] => {
    const s = specs[i];
    if (!s) throw new Error(`etcd cluster ${name}: no member ${i} (it has ${count})`);
    return s;
  };
  const endpoints = specs.map((s) => s.clientUrl);

  const { tls } = opts;
  const ctlTls = tls ? [`--cacert=${tls.ca}`, `--cert=${tls.clientCert}`, `--key=${tls.clientKey}`] : [];
  const etcdctl = (args: readonly string[], eps: readonly string[] = endpoints): Promise<RunResult> =>
    run(...inNetns(netns, 'etcdctl', [`--endpoints=${eps.join(',')}`, '--dial-timeout=2s', '--command-timeout=5s', ...ctlTls, ...args]),
      { env: { ETCDCTL_API: '3' }, timeout: 20_000 });

  const launch = async (i: number): Promise<void> => {
    const s = spec(i);
    const logFd = openSync(s.logFile, 'a');
    // node's spawn, detached, output to a file: a member must not depend on this process' pipes
    // in a netns through `ip netns exec`, which execs etcd: the PID recorded is etcd's (checked below)
    const child = spawn(...inNetns(netns, 'etcd', ['--name', s.name, '--data-dir', s.dataDir, '--logger=zap', '--log-outputs=stderr',
      '--listen-client-urls', s.clientUrl, '--advertise-client-urls', s.clientUrl,
      '--listen-peer-urls', s.peerUrl, '--initial-advertise-peer-urls', s.peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
      ...(tls ? ['--cert-file', tls.serverCert, '--key-file', tls.serverKey, '--trusted-ca-file', tls.ca, '--client-cert-auth'] : [])]),
    { detached: true, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    child.on('error', () => undefined);
    child.unref();
    if (child.pid === undefined) throw new Error(`etcd ${s.name}: spawn failed`);
    const pid = child.pid;
    pids[i] = pid;
    await writeFile(s.pidFile, `${pid}\n`);
    if (netns !== undefined) {
      await waitFor(`etcd ${s.name} to be exec'd by ip netns exec (pid ${pid})`,
        async () => commOf(pid) === 'etcd' || !pidAlive(pid), 5_000);
      if (commOf(pid) !== 'etcd') throw new Error(`etcd ${s.name}: pid ${pid} is not etcd (it exited, see ${s.logFile})`);
    }
  };
  const healthy = async (eps: readonly string[], cluster: boolean): Promise<boolean> =>
    (await etcdctl(['endpoint', 'health', ...(cluster ? ['--cluster'] : [])], eps)).exitCode === 0;
  const logTails = async (): Promise<string> =>
    (await Promise.all(specs.map(async (s) => `${s.name}:\n${(await run('tail', ['-n', '5', s.logFile])).stdout}`))).join('\n');

  const stop = async (i: number): Promise<void> => {
    await stopPid(pids[i], 10_000);
    pids[i] = undefined;
    await rm(spec(i).pidFile, { force: true });
  };
  let destroying: Promise<void> | undefined;
  const destroy = (): Promise<void> => (destroying ??= (async () => {
    for (let i = 0; i < count; i++) await stop(i);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  })());
  opts.t?.teardown(destroy);

  try {
    for (let i = 0; i < count; i++) await launch(i);
    await waitFor('the etcd cluster to be healthy', () => healthy(endpoints, true), 30_000);
  } catch (e) {
    const tails = await logTails();
    await destroy();
    throw new Error(`${(e as Error).message}\n${tails}`);
  }

  const members: EtcdMember[] = specs.map((s, i) => ({
    name: s.name,
    clientUrl: s.clientUrl,
    peerUrl: s.peerUrl,
    dataDir: s.dataDir,
    logFile: s.logFile,
    get pid() { return pids[i]; },
    running: () => {
      const pid = pids[i];
      return pid !== undefined && pidAlive(pid);
    },
  }));
  return {
    dir,
    members,
    endpoints,
    etcdctl,
    stop,
    start: async (i) => {
      const s = spec(i);
      if (members[i]?.running()) return;
      await launch(i);
      await waitFor(`etcd member ${s.name} to be healthy`, () => healthy([s.clientUrl], false), 30_000);
    },
    destroy,
  };
}
