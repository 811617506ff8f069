// Starts again the containers Docker gave up on because ovsvlan was missing.
//
// When dockerd starts (a boot, a restart, an upgrade) it starts the containers
// whose restart policy asks for it. One attached to an ovsvlan network needs
// this plugin: dockerd looks for its socket for about 15 s, then marks the
// container exited with the error and never tries again; starting ovsvlan
// afterwards does not bring it back. So once ovsvlan serves requests and has
// reconciled, it looks for such containers once and starts them itself:
//
//   - in the background, never from a request handler: `docker start` calls
//     back into this plugin, and a handler waiting on dockerd while dockerd
//     waits on the handler deadlocks dockerd at boot;
//   - dockerd may not answer yet (at boot ovsvlan starts before docker.service,
//     and dockerd serves its API only after restoring its containers): the
//     look-up is retried with backoff, 1 s doubling to 15 s, for 5 minutes,
//     then given up with a log line;
//   - every Docker call is bounded, and close() cancels the pass;
//   - once per daemon start: while ovsvlan runs its socket is there, and a
//     restarting dockerd finds the plugin and starts the containers itself.
//
// The rule. A container is started when
//   - it is stopped (`exited` or `created`), has the restart policy always,
//     unless-stopped or on-failure, and is attached to one of ovsvlan's networks;
//   - the user did not stop it: Docker's HasBeenManuallyStopped, set by `docker
//     stop` and `docker kill` (docker/stopped-by-user.ts). dockerd itself, at its
//     start, tries an `always` or `on-failure` container the user stopped;
//     ovsvlan does not: what the user stopped stays stopped. Where Docker's
//     files cannot be read, this is not known, and such a container is started
//     as dockerd would;
//   - its State.Error says that this plugin was missing: `plugin "ovsvlan" not
//     found` (no socket), or a failed dial of `…/ovsvlan.sock` (a socket left by
//     a killed daemon); and
//   - that failure came after ovsvlan last ran (heartbeat.ts): failures from
//     before were that run's to start, or the operator left them down. Docker
//     keeps State.Error until the next successful start, so without this a
//     container dockerd gave up on weeks ago would be started at every start of
//     ovsvlan.
//
// When did the failure happen? Measured on dockerd 20.10, nothing in `docker
// inspect` marks a failed start: State.StartedAt and State.FinishedAt stay as
// they were, whether dockerd tried at its own start or a user ran `docker
// start`. What is known:
//   - dockerd, at its start, tries every container its restart policy wants
//     running (always; unless-stopped unless the user stopped it; on-failure
//     after a non-zero exit), stopped ones included. So when dockerd started
//     after ovsvlan last ran, those attempts were made while ovsvlan was missing.
//     Its start time comes from /proc (docker/started.ts).
//   - State.FinishedAt is when the container last stopped running: for one that
//     ran when dockerd stopped, that stop (or dockerd's next start, which marks
//     it stopped after an unclean stop); for one that exited by itself, its
//     exit, after which dockerd's restart failed. So a container that stopped
//     after ovsvlan last ran failed after too.
// Either counts, with a margin of MARGIN_MS (the boot time in /proc is in whole
// seconds; the last heartbeat is written just before the socket closes). A
// `docker start` or `docker run` that failed while ovsvlan was missing is not
// repeated unless dockerd restarted since: no time marks it, and its user saw
// the error. With no heartbeat and no state file (never ran), every failure counts.
//
// What that does, on dockerd 20.10 restarted while ovsvlan was stopped:
//
//   restart policy   stopped by the user before             running when dockerd stopped
//   always           Error set, stopped by user: stays down  State.Error set: started
//   unless-stopped   Error empty (not tried): stays down     State.Error set: started
//   on-failure       Error set, stopped by user: stays down  State.Error set: started
//   no               Error empty: stays down                 Error empty: stays down
//
// A start that fails for another reason (OVS down, an address taken) is not
// retried: it may be permanent, and dockerd shows it in `docker ps -a`.
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { shortId } from '../names.js';
import type { ContainerApi, StoppedContainer } from './containers.js';
import type { AliveMark } from './heartbeat.js';

const POLICIES: ReadonlySet<string> = new Set(['always', 'unless-stopped', 'on-failure']);
export const MARGIN_MS = 5_000;

/** The name Docker knows a legacy plugin by: its socket's file name without `.sock`. */
export function pluginName(socket: string): string {
  return basename(socket).replace(/\.sock$/, '');
}

/** Whether dockerd's error says it could not reach plugin `plugin` (a managed one is `name:tag`). */
export function pluginMissing(error: string, plugin: string): boolean {
  return error.includes(`plugin "${plugin}" not found`) || (error.includes(`plugin "${plugin}:`) && error.includes('" not found'))
    || error.includes(`/${plugin}.sock`);
}

/** What is known of the times that decide whether a failure is recent, ms since the epoch. */
export interface Times {
  /** when ovsvlan last ran (heartbeat.ts); undefined: it never did */
  lastAlive: number | undefined;
  /** when the dockerd that answers started; undefined: unknown */
  dockerdStartedAt: number | undefined;
}

/** How a failure is known to be later than ovsvlan's last run: see the rule above. */
export type Recent = 'dockerd-started' | 'stopped' | 'no-record';

/** Why the failed start of `c` came after ovsvlan last ran, or undefined when it may be older. */
export function failedSince(c: StoppedContainer, times: Times): Recent | undefined {
  if (times.lastAlive === undefined) return 'no-record';
  const after = times.lastAlive - MARGIN_MS;
  if (times.dockerdStartedAt !== undefined && times.dockerdStartedAt > after) return 'dockerd-started';
  if (c.finishedAt !== undefined && c.finishedAt > after) return 'stopped';
  return undefined;
}

/** A container dockerd gave up on for want of this plugin: the ovsvlan network it is on. Undefined when not. */
export function gaveUpOn(c: StoppedContainer, ourNetworks: ReadonlySet<string>, plugin: string): string | undefined {
  if (c.status !== 'exited' && c.status !== 'created') return undefined;
  if (!POLICIES.has(c.restartPolicy) || !pluginMissing(c.error, plugin)) return undefined;
  return Object.entries(c.networks).find(([, id]) => ourNetworks.has(id))?.[0];
}

export interface ReviverOptions {
  /** undefined: Docker is not read (OVSVLAN_DOCKER empty, the managed plugin) and nothing is started */
  api: ContainerApi | undefined;
  plugin: string;
  /** ovsvlan's networks, read when the pass looks */
  networkIds: () => readonly string[];
  /** when ovsvlan last ran; marked again once this pass is done */
  alive: AliveMark;
  log: Logger;
  /** how long to keep asking a dockerd that does not answer; 5 minutes */
  patienceMs?: number;
  retryMs?: { initial: number; max: number };
}

export interface ReviveReport {
  started: string[];
  failed: string[];
  /** dockerd gave up on them before ovsvlan last ran */
  left: string[];
  /** dockerd gave up on them, but the user had stopped them */
  stoppedByUser: string[];
}

const emptyReport = (): ReviveReport => ({ started: [], failed: [], left: [], stoppedByUser: [] });

export class Reviver {
  readonly #opts: ReviverOptions;
  readonly #abort = new AbortController();
  #pass: Promise<ReviveReport | undefined> | undefined;

  constructor(opts: ReviverOptions) {
    this.#opts = opts;
  }

  /**
   * Starts the pass in the background; later calls return the same pass. Never
   * rejects. Resolves to undefined when the pass did not get to look (dockerd
   * silent, cancelled): then the heartbeat is not marked, and the next start
   * looks at the same failures.
   */
  start(): Promise<ReviveReport | undefined> {
    this.#pass ??= this.#passOnce();
    return this.#pass;
  }

  /** Cancels the pass (its wait, and its Docker call in flight) and marks the heartbeat one last time. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#opts.alive.stop();
  }

  async #passOnce(): Promise<ReviveReport | undefined> {
    const { api, log } = this.#opts;
    const report = !api ? emptyReport() : await this.#run(api).catch((err: unknown) => {
      if (!this.#abort.signal.aborted) log.error({ err }, `revive failed: ${(err as Error).message}`);
      return undefined;
    });
    if (report && !this.#abort.signal.aborted) this.#opts.alive.start();
    return report;
  }

  async #run(api: ContainerApi): Promise<ReviveReport | undefined> {
    if (this.#opts.networkIds().length === 0) return emptyReport(); // nothing of ours: don't wait for dockerd
    const found = await this.#lookUp(api);
    if (!found) return undefined;
    const { log, plugin, alive } = this.#opts;
    const times: Times = { lastAlive: alive.previous, dockerdStartedAt: await api.dockerdStartedAt() };
    const ours = new Set(this.#opts.networkIds());
    const report = emptyReport();
    for (const c of found) {
      const network = gaveUpOn(c, ours, plugin);
      if (network === undefined) continue;
      const fields = { container: c.name, id: shortId(c.id), network, restartPolicy: c.restartPolicy };
      if (c.stoppedByUser === true) {
        report.stoppedByUser.push(c.name);
        log.info(fields, `left ${c.name} down: the user stopped it (docker stop or docker kill)`);
        continue;
      }
      const recent = failedSince(c, times);
      if (!recent) {
        report.left.push(c.name);
        log.info({ ...fields, finishedAt: iso(c.finishedAt), lastAlive: iso(times.lastAlive) },
          `left ${c.name} down: dockerd gave up on it before ovsvlan last ran`);
        continue;
      }
      if (this.#abort.signal.aborted) return undefined;
      try {
        await api.start(c.id, this.#abort.signal);
        report.started.push(c.name);
        log.warn({ ...fields, recent }, `started ${c.name}: dockerd had given up on it while ovsvlan was missing`);
      } catch (err) {
        if (this.#abort.signal.aborted) return undefined;
        report.failed.push(c.name);
        log.error({ ...fields, err }, `could not start ${c.name}, which dockerd had given up on while ovsvlan was missing: ${(err as Error).message}`);
      }
    }
    log.info({ looked: found.length, started: report.started.length, failed: report.failed.length, left: report.left.length,
      stoppedByUser: report.stoppedByUser.length, lastAlive: iso(times.lastAlive), dockerdStartedAt: iso(times.dockerdStartedAt) }, 'revive done');
    return report;
  }

  /** The stopped containers on ovsvlan's networks, asked until dockerd answers or patience runs out. */
  async #lookUp(api: ContainerApi): Promise<StoppedContainer[] | undefined> {
    const { log, patienceMs = 5 * 60_000, retryMs = { initial: 1_000, max: 15_000 } } = this.#opts;
    const signal = this.#abort.signal;
    const deadline = Date.now() + patienceMs;
    for (let delay = retryMs.initial; ; delay = Math.min(delay * 2, retryMs.max)) {
      try {
        return await api.stoppedOn(new Set(this.#opts.networkIds()), signal);
      } catch (err) {
        if (signal.aborted) return undefined;
        if (Date.now() + delay > deadline) {
          log.warn({ err }, `dockerd did not answer for ${Math.round(patienceMs / 1000)} s: containers it gave up on while ovsvlan `
            + 'was missing are not started again; `docker start` them, or restart ovsvlan once dockerd runs');
          return undefined;
        }
        log.debug({ err, retryInMs: delay }, `dockerd does not answer yet: ${(err as Error).message}`);
        await abortableSleep(delay, signal);
        if (signal.aborted) return undefined;
      }
    }
  }
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
