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
//   - every Docker call is bounded, and close() cancels the pass.
//
// The rule. `docker inspect` on dockerd 20.10 after a restart with ovsvlan
// stopped shows which containers dockerd tried to start:
//
//   restart policy   stopped by the user before      running when dockerd stopped
//   always           Error: plugin "ovsvlan" not found   Error: plugin "ovsvlan" not found
//   unless-stopped   Error empty (not tried)             Error: plugin "ovsvlan" not found
//   on-failure       Error: … (exit 137 is a failure)    Error: plugin "ovsvlan" not found
//   no               Error empty                         Error empty
//
// A container is started when it is stopped (`exited` or `created`), its
// restart policy is always, unless-stopped or on-failure, it is attached to one
// of ovsvlan's networks, and its State.Error says that this plugin was missing:
// `plugin "ovsvlan" not found` (no socket), or a failed dial of `…/ovsvlan.sock`
// (a socket left by a killed daemon). dockerd sets State.Error only when a start
// fails and `docker stop` leaves it empty, so this starts exactly what dockerd
// meant to run and could not: what it would have done had the plugin been
// there. An unless-stopped container the user stopped stays stopped; an
// `always` one the user stopped is started, as dockerd itself starts those
// when it restarts.
//
// Once per daemon start is enough: while ovsvlan runs, its socket is there and
// a restarting dockerd finds the plugin and starts the containers itself, so a
// "not found" error can only have been written while ovsvlan was down. A start
// that fails for another reason (OVS down, an address taken) is not retried:
// it may be permanent, and dockerd shows it in `docker ps -a`.
import { basename } from 'node:path';
import type { Logger } from 'pino';
import { shortId } from '../names.js';
import type { ContainerApi, StoppedContainer } from './containers.js';

const POLICIES: ReadonlySet<string> = new Set(['always', 'unless-stopped', 'on-failure']);

/** The name Docker knows a legacy plugin by: its socket's file name without `.sock`. */
export function pluginName(socket: string): string {
  return basename(socket).replace(/\.sock$/, '');
}

/** Whether dockerd's error says it could not reach plugin `plugin` (a managed one is `name:tag`). */
export function pluginMissing(error: string, plugin: string): boolean {
  return error.includes(`plugin "${plugin}" not found`) || (error.includes(`plugin "${plugin}:`) && error.includes('" not found'))
    || error.includes(`/${plugin}.sock`);
}

/** The ovsvlan network that makes `c` ours to start again, or undefined when the rule above says no. */
export function reviveReason(c: StoppedContainer, ourNetworks: ReadonlySet<string>, plugin: string): string | undefined {
  if (c.status !== 'exited' && c.status !== 'created') return undefined;
  if (!POLICIES.has(c.restartPolicy) || !pluginMissing(c.error, plugin)) return undefined;
  return Object.entries(c.networks).find(([, id]) => ourNetworks.has(id))?.[0];
}

export interface ReviverOptions {
  /** undefined: Docker is not read (OVSVLAN_DOCKER empty, the managed plugin) and nothing is done */
  api: ContainerApi | undefined;
  plugin: string;
  /** ovsvlan's networks, read when the pass looks */
  networkIds: () => readonly string[];
  log: Logger;
  /** how long to keep asking a dockerd that does not answer; 5 minutes */
  patienceMs?: number;
  retryMs?: { initial: number; max: number };
}

export interface ReviveReport {
  started: string[];
  failed: string[];
}

export class Reviver {
  readonly #opts: ReviverOptions;
  readonly #abort = new AbortController();
  #pass: Promise<ReviveReport | undefined> | undefined;

  constructor(opts: ReviverOptions) {
    this.#opts = opts;
  }

  /** Starts the pass in the background; later calls return the same pass. Never rejects. */
  start(): Promise<ReviveReport | undefined> {
    this.#pass ??= this.#opts.api && !this.#abort.signal.aborted
      ? this.#run(this.#opts.api).catch((err: unknown) => {
        if (!this.#abort.signal.aborted) this.#opts.log.error({ err }, `revive failed: ${(err as Error).message}`);
        return undefined;
      })
      : Promise.resolve(undefined);
    return this.#pass;
  }

  /** Cancels the pass: its wait, and its Docker call in flight. */
  close(): void {
    this.#abort.abort();
  }

  async #run(api: ContainerApi): Promise<ReviveReport | undefined> {
    if (this.#opts.networkIds().length === 0) return { started: [], failed: [] }; // nothing of ours to start: don't wait for dockerd
    const found = await this.#lookUp(api);
    if (!found) return undefined;
    const { log, plugin } = this.#opts;
    const ours = new Set(this.#opts.networkIds());
    const report: ReviveReport = { started: [], failed: [] };
    for (const c of found) {
      const network = reviveReason(c, ours, plugin);
      if (network === undefined) continue;
      if (this.#abort.signal.aborted) return undefined;
      const fields = { container: c.name, id: shortId(c.id), network, restartPolicy: c.restartPolicy };
      try {
        await api.start(c.id, this.#abort.signal);
        report.started.push(c.name);
        log.warn(fields, `started ${c.name}: dockerd had given up on it while ovsvlan was missing`);
      } catch (err) {
        if (this.#abort.signal.aborted) return undefined;
        report.failed.push(c.name);
        log.error({ ...fields, err }, `could not start ${c.name}, which dockerd had given up on while ovsvlan was missing: ${(err as Error).message}`);
      }
    }
    log.info({ looked: found.length, started: report.started.length, failed: report.failed.length }, 'revive done');
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
