// Docker's containers, as the reviver (revive.ts) needs them: the stopped ones
// attached to ovsvlan's networks, when dockerd started, and starting one.
// Through the shared DockerClient (bounded, cancellable calls, dockerode
// loaded on first use); never from a request handler.
import type { DockerClient } from '../docker/client.js';
import { dockerdStartedAt } from '../docker/started.js';
import { stoppedByUser } from '../docker/stopped-by-user.js';

/** A stopped container on one of ovsvlan's networks, as `docker inspect` shows it. */
export interface StoppedContainer {
  id: string;
  /** without the leading "/" */
  name: string;
  /** State.Status: `exited`, `created`, … */
  status: string;
  /** State.Error: why its last start failed; empty after a normal exit or a `docker stop` */
  error: string;
  /** State.FinishedAt, ms since the epoch: when it last stopped running; undefined when it never ran */
  finishedAt: number | undefined;
  /** HostConfig.RestartPolicy.Name: `always`, `unless-stopped`, `on-failure`, `no` or empty */
  restartPolicy: string;
  /** network name → network ID (NetworkSettings.Networks) */
  networks: Record<string, string>;
  /** Stopped by `docker stop` or `docker kill` (Docker's HasBeenManuallyStopped); undefined when not known */
  stoppedByUser: boolean | undefined;
}

/** What the reviver asks of Docker: the DockerClient in the daemon, a fake in unit tests. */
export interface ContainerApi {
  /** Stopped containers attached to any of `networkIds`; throws when Docker does not answer. */
  stoppedOn(networkIds: ReadonlySet<string>, signal: AbortSignal): Promise<StoppedContainer[]>;
  /** When the dockerd that answers started, ms since the epoch; undefined when that cannot be found out. */
  dockerdStartedAt(): Promise<number | undefined>;
  start(id: string, signal: AbortSignal): Promise<void>;
}

/** Docker's containers through `client`; undefined without one (OVSVLAN_DOCKER empty). */
export function dockerContainers(client: DockerClient | undefined): ContainerApi | undefined {
  if (!client) return undefined;
  return {
    async stoppedOn(networkIds, signal) {
      const listed = await client.containers(['exited', 'created'], { signal });
      const out: StoppedContainer[] = [];
      const matching = listed.filter((l) => [...l.networks.values()].some((n) => networkIds.has(n.networkId)));
      if (matching.length === 0) return out;
      // only stoppedByUser needs it: Docker's /info failing leaves that not known, not the whole revive undone
      const rootDir = await client.rootDir({ signal }).catch((err: unknown) => {
        if (signal.aborted) throw err;
        return '';
      });
      for (const c of matching) {
        const d = await client.container(c.id, { signal });
        if (!d) continue; // removed meanwhile
        out.push({ id: d.id, name: d.name, status: d.status, error: d.error, finishedAt: d.finishedAt, restartPolicy: d.restartPolicy,
          networks: Object.fromEntries([...d.networks].map(([name, n]) => [name, n.networkId])),
          stoppedByUser: await stoppedByUser(rootDir, d.id) });
      }
      return out;
    },
    dockerdStartedAt: () => dockerdStartedAt(client.socketPath),
    async start(id, signal) {
      await client.start(id, { signal });
    },
  };
}
