// The DHCP client of DHCP networks (issue 12), on BusyBox udhcpc: the first
// lease at CreateEndpoint (one-shot, report only), the renewal client in the
// container's netns after Join (detached in its own session, so it outlives
// the daemon), its adoption after a restart, its stop at Leave, and the
// release of a lease kept past its container (release.ts).
// Its files are under the directory given (<state>/dhcp), named by files.ts;
// the renewal client's output goes to <endpoint>.log there (truncated at its start).
// Every call is bounded; none calls Docker.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { DhcpError, LeaseRefusedError } from '../errors.js';
import type { Logger } from '../log.js';
import { firstLeaseArgv, hookEnv, renewalArgv } from './argv.js';
import { endpointFiles, lastLogLine, openClientLog, reportFiles, sweepReports } from './files.js';
import { inSubnet } from '../ipam/address.js';
import { readLeaseFile } from './lease.js';
import { ownDhcpProblems } from './preflight.js';
import { isRenewalProcess, processAlive, readPidFile, renewalPid } from './process.js';
import { interfaceWithMac } from './netns.js';
import { giveBack } from './release.js';
import type { DhcpClient, FirstLeaseRequest, GatewayPolicy, Lease, ReleaseRequest, RenewalClient } from './types.js';

export interface UdhcpcClientOptions {
  /** where pidfiles and lease files live (<state>/dhcp); made by the first lease or client */
  dir: string;
  logger: Logger;
  /** the node binary the hook runs with (default: the daemon's own) */
  node?: string;
  /** udhcpc's -s program (default: scripts/udhcpc-hook of this install) */
  hookScript?: string;
  /** the hook's module (default: dist/dhcp/hook.js next to this file) */
  hookModule?: string;
  /** how long startRenewal waits for the container's interface to be in its netns (default 30 s) */
  interfaceWaitMs?: number;
}

/** A first lease may take this long beyond its bound: a late offer's REQUEST/ACK. */
const FIRST_LEASE_GRACE_MS = 1_000;
/** How long a renewal client has to write its pidfile once spawned. */
const START_WAIT_MS = 5_000;
/** How long a stopped client has to exit before SIGKILL. */
const STOP_WAIT_MS = 5_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class UdhcpcClient implements DhcpClient {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #node: string;
  readonly #hookScript: string;
  readonly #hookModule: string;
  readonly #interfaceWaitMs: number;

  /**
   * Called once by the daemon at start (and by `ovsvlan status`, which only
   * reads): makes nothing; the directory is made by the first lease or client.
   */
  constructor(opts: UdhcpcClientOptions) {
    this.#dir = opts.dir;
    this.#log = opts.logger;
    this.#node = opts.node ?? process.execPath;
    this.#hookScript = opts.hookScript ?? fileURLToPath(new URL('../../scripts/udhcpc-hook', import.meta.url));
    this.#hookModule = opts.hookModule ?? fileURLToPath(new URL('./hook.js', import.meta.url));
    this.#interfaceWaitMs = opts.interfaceWaitMs ?? 30_000;
  }

  /**
   * Called once by the daemon at start, before it serves Docker's calls:
   * removes the report files of one-shot clients a daemon killed mid-call
   * left behind (files.ts sweepReports). Never called by `ovsvlan status`.
   */
  async sweep(): Promise<void> {
    const removed = await sweepReports(this.#dir);
    if (removed.length > 0) this.#log.info({ files: removed }, 'dhcp: report files of an interrupted call removed');
  }

  /** The hook's environment (argv.ts hookEnv) with this install's node and module. */
  #env(leaseFile: string, opts: { apply: boolean; gateway: GatewayPolicy; deconfigFile: string | undefined }): Record<string, string> {
    return hookEnv({ node: this.#node, hookModule: this.#hookModule, leaseFile, ...opts });
  }

  /**
   * CreateEndpoint: one udhcpc that quits once bound, its hook only reporting
   * (OVSVLAN_DHCP_APPLY=0: nothing is configured in the host's namespace),
   * killed at the bound. Throws DhcpError when no lease came or it is outside
   * the subnet; no process is left either way. A lease refused for not fitting
   * stays with the server until it runs out: udhcpc sends DHCPRELEASE from the
   * leased address, which is never put on an interface of the host's namespace.
   */
  async firstLease(req: FirstLeaseRequest): Promise<Lease> {
    const where = req.segment ?? `interface ${req.ifname}`;
    const { lease, timedOut, said, ended } = await this.#oneShot(firstLeaseArgv({ ...req, hook: this.#hookScript, netns: req.netns }), req.timeoutS);
    if (lease === undefined) {
      if (timedOut || /no lease/.test(said)) {
        throw new DhcpError(`no DHCP server answered on ${where} within ${req.timeoutS} s (dhcp_timeout)`);
      }
      throw new DhcpError(`the DHCP client failed on ${where} (${ended}): ${said || 'no output'}`);
    }
    if (req.subnet !== undefined && !inSubnet(lease.address, req.subnet)) {
      throw new LeaseRefusedError(
        `the DHCP server on ${where} (${lease.serverId ?? 'unknown'}) leased ${lease.address}, outside dhcp_subnet ${req.subnet}`, lease.address,
      );
    }
    return lease;
  }

  /**
   * Runs a one-shot udhcpc (first lease, release) with a report-only hook,
   * killed past its bound, and returns the lease its hook reported, if any,
   * with how udhcpc ended (`ended`: "exit N" or "signal S"; its last line in
   * `said`). No process and no report file are left.
   */
  async #oneShot(argv: string[], timeoutS: number): Promise<{ lease: Lease | undefined; timedOut: boolean; said: string; ended: string }> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const file = reportFiles(this.#dir, 'first').lease;
    try {
      const r = await execa('busybox', argv, {
        env: this.#env(file, { apply: false, gateway: 'none', deconfigFile: undefined }),
        timeout: timeoutS * 1000 + FIRST_LEASE_GRACE_MS,
        forceKillAfterDelay: 1_000,
        reject: false,
        stdin: 'ignore',
      });
      const said = String(r.stderr).trim().split('\n').pop() ?? '';
      const ended = r.exitCode === undefined ? `signal ${r.signal}` : `exit ${r.exitCode}`;
      return { lease: readLeaseFile(file), timedOut: r.timedOut, said, ended };
    } finally {
      await rm(file, { force: true });
    }
  }

  /**
   * After Join: adopts the endpoint's renewal client when it still runs, else
   * waits (bounded) for the interface with the identity's MAC to be in the
   * sandbox and starts one there, detached in its own session, asking for the
   * container's address. Resolves once udhcpc has written its pidfile.
   */
  async startRenewal(c: RenewalClient): Promise<void> {
    const files = endpointFiles(this.#dir, c.endpointId);
    const pidFile = files.pid;
    const running = renewalPid(pidFile);
    if (running !== undefined) {
      this.#log.info({ endpoint: c.endpointId, pid: running }, 'dhcp renewal client adopted');
      return;
    }
    const ifname = await interfaceWithMac(c.sandboxKey, c.identity.mac, this.#interfaceWaitMs);
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await rm(pidFile, { force: true });
    const argv = renewalArgv({ ...c, ifname, hook: this.#hookScript, pidFile });
    // udhcpc's and its hook's output, for the operator: <state>/dhcp/<endpoint>.log, begun anew
    // at each start (its size is one run's); the client writes to it directly, without the daemon
    const log = await openClientLog(files.log);
    const child = execa('busybox', argv, {
      env: this.#env(files.lease, { apply: true, gateway: c.gateway, deconfigFile: files.deconfig }),
      detached: true,
      cleanup: false,
      reject: false,
      stdin: 'ignore',
      // execa's types take a descriptor only as a number literal; any open one works at run time
      stdout: log.fd as 3,
      stderr: log.fd as 3,
    });
    await log.close(); // the client holds its own copy; a failed spawn is reported by child's promise
    let exited: string | undefined;
    void child.then((r) => {
      exited = `exit ${r.exitCode ?? r.signal}`;
    });
    child.unref();
    const deadline = Date.now() + START_WAIT_MS;
    while (readPidFile(pidFile) !== child.pid) {
      if (exited !== undefined) {
        const said = await lastLogLine(files.log);
        throw new DhcpError(`the DHCP renewal client for ${c.address} in ${c.sandboxKey} stopped at start (${exited})${said ? `: ${said}` : ''}`);
      }
      if (Date.now() > deadline) {
        if (child.pid !== undefined && processAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
        throw new DhcpError(`the DHCP renewal client for ${c.address} in ${c.sandboxKey} wrote no pidfile within ${START_WAIT_MS} ms`);
      }
      await sleep(50);
    }
    this.#log.info({ endpoint: c.endpointId, pid: child.pid, ifname, address: c.address }, 'dhcp renewal client started');
  }

  /**
   * Leave: when `release`, SIGUSR2 (udhcpc sends DHCPRELEASE) and its
   * confirmation first; then SIGTERM, SIGKILL after a bound; then the
   * endpoint's files are removed, its log too (read leaseOf before, to keep the last lease).
   * A client already gone is success.
   */
  async stopRenewal(endpointId: string, release: boolean): Promise<void> {
    const files = endpointFiles(this.#dir, endpointId);
    const pidFile = files.pid;
    const pid = renewalPid(pidFile);
    const deconfigFile = files.deconfig;
    if (pid !== undefined) {
      if (release) await this.#release(pid, pidFile, deconfigFile);
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + STOP_WAIT_MS;
      while (processAlive(pid) && Date.now() < deadline) await sleep(50);
      if (isRenewalProcess(pid, pidFile)) {
        process.kill(pid, 'SIGKILL');
        this.#log.warn({ endpoint: endpointId, pid }, 'dhcp renewal client killed: it did not stop on SIGTERM');
      }
      this.#log.info({ endpoint: endpointId, pid, release }, 'dhcp renewal client stopped');
    }
    for (const f of [pidFile, files.lease, deconfigFile, files.log]) await rm(f, { force: true });
  }

  /**
   * SIGUSR2, then waits (bounded) for the hook's deconfig, which udhcpc runs
   * once the DHCPRELEASE is sent. SIGTERM must not be sent with it: two signals
   * pending at once run their handlers in reverse, and udhcpc would quit first.
   */
  async #release(pid: number, pidFile: string, deconfigFile: string): Promise<void> {
    await rm(deconfigFile, { force: true });
    process.kill(pid, 'SIGUSR2');
    const deadline = Date.now() + STOP_WAIT_MS;
    while (!existsSync(deconfigFile) && isRenewalProcess(pid, pidFile)) {
      if (Date.now() > deadline) {
        this.#log.warn({ pid }, 'dhcp renewal client did not confirm its release: stopping it anyway');
        return;
      }
      await sleep(50);
    }
  }

  /**
   * Reconciliation (dhcp_release=remove, container removed): gives the lease
   * back from the caller's interface in its throwaway netns (release.ts).
   * True once released.
   */
  async releaseLease(req: ReleaseRequest): Promise<boolean> {
    return giveBack({
      dir: this.#dir,
      hookScript: this.#hookScript,
      env: (leaseFile, deconfigFile) => this.#env(leaseFile, { apply: false, gateway: 'none', deconfigFile }),
    }, req);
  }

  /** The lease the endpoint's hook last wrote, if any. */
  leaseOf(endpointId: string): Lease | undefined {
    return readLeaseFile(endpointFiles(this.#dir, endpointId).lease);
  }

  /** What this daemon lacks to run udhcpc and enter sandboxes (preflight.ts). */
  problems(): string[] {
    return ownDhcpProblems();
  }

  /** The renewal clients running now, found by their pidfiles (endpoint ID → PID). */
  running(): Map<string, number> {
    const found = new Map<string, number>();
    let names: string[];
    try {
      names = readdirSync(this.#dir);
    } catch {
      return found; // no directory yet: no DHCP endpoint ever ran here
    }
    for (const name of names) {
      const m = /^([A-Za-z0-9]{1,64})\.pid$/.exec(name);
      if (!m?.[1]) continue;
      const pid = renewalPid(join(this.#dir, name));
      if (pid !== undefined) found.set(m[1], pid);
    }
    return found;
  }
}
