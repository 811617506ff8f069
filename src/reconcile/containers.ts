// Docker's containers, as the reviver (revive.ts) needs them: the stopped ones
// attached to ovsvlan's networks, and starting one. dockerode, loaded on first
// use; never called from a request handler (`docker start` calls back into
// this plugin); every call bounded and cancellable.
import type Docker from 'dockerode';

/** A stopped container on one of ovsvlan's networks, as `docker inspect` shows it. */
export interface StoppedContainer {
  id: string;
  /** without the leading "/" */
  name: string;
  /** State.Status: `exited`, `created`, … */
  status: string;
  /** State.Error: why its last start failed; empty after a normal exit or a `docker stop` */
  error: string;
  /** HostConfig.RestartPolicy.Name: `always`, `unless-stopped`, `on-failure`, `no` or empty */
  restartPolicy: string;
  /** network name → network ID (NetworkSettings.Networks) */
  networks: Record<string, string>;
}

/** What the reviver asks of Docker: dockerode in the daemon, a fake in unit tests. */
export interface ContainerApi {
  /** Stopped containers attached to any of `networkIds`; throws when Docker does not answer. */
  stoppedOn(networkIds: ReadonlySet<string>, signal: AbortSignal): Promise<StoppedContainer[]>;
  start(id: string, signal: AbortSignal): Promise<void>;
}

const READ_TIMEOUT_MS = 5_000;
/** A start runs CreateEndpoint and Join through this plugin: slower than a read on a busy host. */
const START_TIMEOUT_MS = 60_000;

interface Inspect {
  Id: string;
  Name?: string;
  State?: { Status?: string; Error?: string };
  HostConfig?: { RestartPolicy?: { Name?: string } };
  NetworkSettings?: { Networks?: Record<string, { NetworkID?: string }> | null };
}

/** Docker's containers through `endpoint` (`unix:///var/run/docker.sock`); undefined when it is empty. */
export function dockerContainers(endpoint: string): ContainerApi | undefined {
  if (!endpoint) return undefined;
  const socketPath = endpoint.replace(/^unix:\/\//, '');
  let client: Promise<Docker> | undefined;
  const docker = (): Promise<Docker> =>
    (client ??= import('dockerode').then(({ default: DockerClient }) => new DockerClient({ socketPath })));
  const bounded = (signal: AbortSignal, ms: number): AbortSignal => AbortSignal.any([signal, AbortSignal.timeout(ms)]);

  return {
    async stoppedOn(networkIds, signal) {
      const d = await docker();
      const list = await d.listContainers({ all: true, filters: { status: ['exited', 'created'] },
        abortSignal: bounded(signal, READ_TIMEOUT_MS) });
      const candidates = list.filter((c) => Object.values(c.NetworkSettings?.Networks ?? {}).some((n) => networkIds.has(n.NetworkID)));
      const out: StoppedContainer[] = [];
      for (const c of candidates) {
        try {
          out.push(toStopped((await d.getContainer(c.Id).inspect({ abortSignal: bounded(signal, READ_TIMEOUT_MS) })) as Inspect));
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode !== 404) throw err; // removed meanwhile
        }
      }
      return out;
    },
    async start(id, signal) {
      await (await docker()).getContainer(id).start({ abortSignal: bounded(signal, START_TIMEOUT_MS) });
    },
  };
}

function toStopped(c: Inspect): StoppedContainer {
  return {
    id: c.Id,
    name: (c.Name ?? '').replace(/^\//, ''),
    status: c.State?.Status ?? '',
    error: c.State?.Error ?? '',
    restartPolicy: c.HostConfig?.RestartPolicy?.Name ?? '',
    networks: Object.fromEntries(Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, n]) => [name, n.NetworkID ?? ''])),
  };
}
