// Simulated hosts for the cluster scale bench and test (issue 11, must-show 7): light processes
// (test/bench/cluster-sim-hosts.ts), each with one etcd connection, that keep the liveness records
// of many hosts exactly the way the daemon does (EtcdLiveness of src/cluster/hosts.ts), no OVS, no
// dockerd. The parent drives them by JSON lines on stdin and reads JSON lines on stdout; and it
// polls a real host's OVS for the mesh's tunnel ports, to time how fast they follow the hosts.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Teardownable } from './host.js';
import { REPO_ROOT } from './plugin.js';
import { RUN_PREFIX, runOk, sleep, stopPid } from './run.js';

/** One simulated host: its id in the cluster and its (unreachable) tunnel endpoint. */
export interface SimHost {
  readonly id: string;
  readonly underlayIp: string;
}

/** What the parent tells a simulation process (one JSON line on its stdin). */
export type SimCommand =
  /** `ids`: these hosts (again, after they left); all the process's hosts when absent */
  | { readonly cmd: 'register'; readonly ids?: readonly string[] }
  | { readonly cmd: 'leave'; readonly ids: readonly string[] }
  | { readonly cmd: 'stats' }
  | { readonly cmd: 'close' };

/** What a simulation process answers (one JSON line on its stdout). */
export type SimEvent =
  | { readonly event: 'connected' }
  /** `retries`: start() calls that failed (etcd did not answer in time) and were made again, as the daemon does */
  | { readonly event: 'registered'; readonly count: number; readonly lastAt: number; readonly retries: number }
  | { readonly event: 'left'; readonly count: number; readonly lastAt: number }
  | { readonly event: 'stats'; readonly watch: WatchStats | undefined }
  | { readonly event: 'closed' }
  | { readonly event: 'error'; readonly message: string };

/** Events a watcher of the liveness keys (`alive/`) saw: what one daemon's host view receives. */
export interface WatchStats {
  readonly puts: number;
  readonly deletes: number;
  /** watch responses (a response may carry several events) */
  readonly responses: number;
}

/** The configuration a simulation process gets as its one argument (JSON). */
export interface SimProcessConfig {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly hosts: readonly SimHost[];
  /** this process also watches the liveness keys (`alive/`) and counts the events (`stats`) */
  readonly watch: boolean;
}

export interface SimFleetOpts {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  /** run the processes inside this netns (where the endpoints are reachable) */
  readonly netns: string | undefined;
  readonly count: number;
  readonly processes: number;
}

export interface SimFleet {
  readonly hosts: readonly SimHost[];
  /**
   * Every process starts its hosts' liveness at once (only `ids`' when given: hosts that left come
   * back with a new epoch and lease); resolves with when the last record was put (ms since epoch)
   * and the retries it took.
   */
  register(ids?: readonly string[]): Promise<{ lastAt: number; retries: number }>;
  /** Revokes the leases of these hosts (their `alive` keys go at once); resolves with when the last revoke was answered. */
  leave(ids: readonly string[]): Promise<number>;
  /** What the watching process's watch saw so far. */
  watchStats(): Promise<WatchStats>;
  /** Stops every process (their leases are revoked); idempotent. */
  close(): Promise<void>;
}

/** Host i of the simulation: `${RUN_PREFIX}-sim<i>` on 10.98.<i div 250>.<i mod 250 + 1>. */
export const simHost = (i: number): SimHost => ({ id: `${RUN_PREFIX}-sim${i}`, underlayIp: `10.98.${Math.floor(i / 250)}.${(i % 250) + 1}` });

const SIM_MAIN = `${REPO_ROOT}test/bench/cluster-sim-hosts.ts`;
const REPLY_TIMEOUT_MS = 120_000;

/** One simulation process and its line protocol. */
class SimProcess {
  private readonly waiters: Array<{ event: SimEvent['event']; resolve: (e: SimEvent) => void; reject: (err: Error) => void }> = [];
  private stderr = '';
  private exited: string | undefined;

  constructor(readonly child: ChildProcess, readonly name: string) {
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4_000);
    });
    createInterface({ input: child.stdout! }).on('line', (line) => this.onLine(line));
    child.on('exit', (code, signal) => {
      this.exited = `${this.name} exited (${signal ?? code}): ${this.stderr.trim()}`;
      for (const w of this.waiters.splice(0)) w.reject(new Error(this.exited));
    });
  }

  private onLine(line: string): void {
    let e: SimEvent;
    try {
      e = JSON.parse(line) as SimEvent;
    } catch {
      return; // a stray line (a library's warning): not ours
    }
    if (e.event === 'error') {
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.name}: ${e.message}`));
      return;
    }
    const i = this.waiters.findIndex((w) => w.event === e.event);
    if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(e);
  }

  /** Waits for the next `event` (sending `cmd` first when given). */
  ask<E extends SimEvent['event']>(event: E, cmd?: SimCommand): Promise<Extract<SimEvent, { event: E }>> {
    if (this.exited !== undefined) return Promise.reject(new Error(this.exited));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${event} within ${REPLY_TIMEOUT_MS / 1000} s; stderr: ${this.stderr.trim()}`)),
        REPLY_TIMEOUT_MS);
      this.waiters.push({
        event,
        resolve: (e) => { clearTimeout(timer); resolve(e as Extract<SimEvent, { event: E }>); },
        reject: (err) => { clearTimeout(timer); reject(err); },
      });
      if (cmd) this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  get running(): boolean {
    return this.exited === undefined;
  }
}

/**
 * Starts `processes` simulation processes sharing `count` hosts, each connected to etcd, and
 * resolves once all are connected (nothing registered yet). With `t`, close() is its teardown.
 */
export async function startSimFleet(opts: SimFleetOpts, t?: Teardownable): Promise<SimFleet> {
  const hosts = Array.from({ length: opts.count }, (_, i) => simHost(i));
  const per = Math.ceil(opts.count / opts.processes);
  const procs: SimProcess[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(procs.map(async (p) => {
      if (p.running) await p.ask('closed', { cmd: 'close' }).catch(() => undefined);
      await stopPid(p.child.pid);
    }));
  };
  t?.teardown(close);
  for (let k = 0; k * per < hosts.length; k++) {
    const config: SimProcessConfig = { endpoints: opts.endpoints, prefix: opts.prefix, hosts: hosts.slice(k * per, (k + 1) * per), watch: k === 0 };
    const argv = [process.execPath, '--import=@tapjs/typescript/import', SIM_MAIN, JSON.stringify(config)];
    const [cmd, args] = opts.netns === undefined ? [argv[0]!, argv.slice(1)] : ['ip', ['netns', 'exec', opts.netns, ...argv]];
    procs.push(new SimProcess(spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] }), `simulation process ${k}`));
  }
  await Promise.all(procs.map((p) => p.ask('connected')));
  const owner = new Map(procs.flatMap((p, k) => hosts.slice(k * per, (k + 1) * per).map((h) => [h.id, p] as const)));
  /** The ids grouped by the process that keeps them. */
  const byOwner = (ids: readonly string[]): Map<SimProcess, string[]> => {
    const out = new Map<SimProcess, string[]>();
    for (const id of ids) {
      const p = owner.get(id);
      if (!p) throw new Error(`no simulated host ${id}`);
      out.set(p, [...(out.get(p) ?? []), id]);
    }
    return out;
  };
  return {
    hosts,
    register: async (ids) => {
      const asks = ids === undefined ? procs.map((p) => p.ask('registered', { cmd: 'register' }))
        : [...byOwner(ids)].map(([p, mine]) => p.ask('registered', { cmd: 'register', ids: mine }));
      const answers = await Promise.all(asks);
      return { lastAt: Math.max(...answers.map((e) => e.lastAt)), retries: answers.reduce((n, e) => n + e.retries, 0) };
    },
    leave: async (ids) => {
      const answers = await Promise.all([...byOwner(ids)].map(([p, mine]) => p.ask('left', { cmd: 'leave', ids: mine })));
      return Math.max(...answers.map((e) => e.lastAt));
    },
    watchStats: async () => {
      const stats = (await procs[0]!.ask('stats', { cmd: 'stats' })).watch;
      if (!stats) throw new Error('simulation process 0 does not watch');
      return stats;
    },
    close,
  };
}

/** A VXLAN or GRE interface of a bridge as OVSDB has it. */
export interface TunnelInterface {
  readonly name: string;
  readonly type: string;
  readonly remoteIp: string | undefined;
  readonly key: string | undefined;
}

/** The VXLAN/GRE interfaces on `bridge`, through ovs-vsctl on `dbSock` (two calls, however many ports). */
export async function tunnelInterfaces(dbSock: string, bridge: string): Promise<TunnelInterface[]> {
  const vsctl = (args: readonly string[]): Promise<string> => runOk('ovs-vsctl', [`--db=unix:${dbSock}`, '--timeout=10', ...args]);
  const onBridge = new Set((await vsctl(['list-ports', bridge])).split('\n').filter(Boolean));
  const rows = JSON.parse(await vsctl(['--format=json', '--columns=name,type,options', 'list', 'Interface'])) as
    { data: Array<[string, string, ['map', Array<[string, string]>]]> };
  return rows.data.filter((r) => onBridge.has(r[0]) && (r[1] === 'vxlan' || r[1] === 'gre')).map((r) => {
    const options = Object.fromEntries(r[2][1]);
    return { name: r[0], type: r[1], remoteIp: options['remote_ip'], key: options['key'] };
  });
}

/** The tunnel endpoints (options:remote_ip) on `bridge`, sorted. */
export async function tunnelRemotes(dbSock: string, bridge: string): Promise<string[]> {
  return (await tunnelInterfaces(dbSock, bridge)).map((i) => i.remoteIp ?? '?').sort();
}

export interface Convergence {
  /** ms since epoch when a poll first saw the wanted set */
  readonly seenAt: number;
  readonly polls: number;
}

/**
 * Polls `bridge`'s tunnel endpoints every `intervalMs` until they are exactly `want` (no more, no
 * fewer), and says when that was first seen; throws after `timeoutMs` naming how far it got.
 */
export async function awaitTunnels(dbSock: string, bridge: string, want: ReadonlySet<string>, intervalMs: number, timeoutMs: number): Promise<Convergence> {
  const until = Date.now() + timeoutMs;
  let polls = 0;
  let last: string[] = [];
  while (Date.now() < until) {
    const started = Date.now();
    last = await tunnelRemotes(dbSock, bridge);
    polls++;
    if (last.length === want.size && last.every((r) => want.has(r))) return { seenAt: Date.now(), polls };
    await sleep(Math.max(0, intervalMs - (Date.now() - started)));
  }
  const missing = [...want].filter((r) => !last.includes(r));
  const extra = last.filter((r) => !want.has(r));
  throw new Error(`${bridge}: ${last.length} tunnel ports after ${timeoutMs / 1000} s, wanted ${want.size} (${missing.length} missing, e.g. ${missing.slice(0, 3).join(',')}; ${extra.length} extra, e.g. ${extra.slice(0, 3).join(',')})`);
}
