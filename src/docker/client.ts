// Docker's Engine API: the one way ovsvlan reaches dockerd. Reconciliation
// (reconcile/docker.ts), the revive (reconcile/containers.ts), `ovsvlan
// status` and `ovsvlan doctor` all go through a DockerClient.
//
//   - dockerode is loaded on first use: a daemon that never reads Docker (the
//     managed plugin, OVSVLAN_DOCKER empty) never loads it, and `ovsvlan
//     daemon` opens its socket before any of this is imported;
//   - every call is bounded in time and cancellable: it goes through dockerode's
//     modem with one AbortSignal (the caller's, plus a timeout), so an
//     abandoned call is torn down, not left running;
//   - every answer is `unknown` until the fields used are checked: a field of
//     the wrong type reads as absent, an answer without its ID is an error.
//
// Never call it from a request handler: dockerd may itself be waiting for this
// plugin (at its start, or inside a `docker start`), and a handler waiting for
// dockerd would deadlock it.
import type Docker from 'dockerode';

/** A read: inspect, list, version. */
export const READ_TIMEOUT_MS = 5_000;
/** A start runs CreateEndpoint and Join through this plugin: slower than a read on a busy host. */
export const START_TIMEOUT_MS = 60_000;

/** `unix:///var/run/docker.sock` → `/var/run/docker.sock`; undefined for an empty endpoint (Docker is not read). */
export function dockerSocketPath(endpoint: string): string | undefined {
  return endpoint ? endpoint.replace(/^unix:\/\//, '') : undefined;
}

export interface CallOptions {
  /** cancels the call */
  signal?: AbortSignal;
  /** READ_TIMEOUT_MS unless given */
  timeoutMs?: number;
}

/** One network of a container, by network name. */
export interface Attachment {
  networkId: string;
  /** empty while the container is stopped */
  endpointId: string;
}

/** A container as `GET /containers/json` lists it. */
export interface ContainerSummary {
  id: string;
  /** without the leading "/"; the short ID when Docker gives no name */
  name: string;
  networks: Map<string, Attachment>;
}

/** A container as `docker inspect` shows it: the fields ovsvlan reads. */
export interface ContainerDetail extends ContainerSummary {
  /** State.Status: `running`, `exited`, `created`, … */
  status: string;
  running: boolean;
  /** State.Pid; 0 when not running */
  pid: number;
  /** State.Error: why its last start failed; empty after a normal exit, a `docker stop` or a successful start */
  error: string;
  /** State.FinishedAt in ms since the epoch: when it last stopped running; undefined when it never ran */
  finishedAt: number | undefined;
  /** HostConfig.RestartPolicy.Name: `always`, `unless-stopped`, `on-failure`, `no` or empty */
  restartPolicy: string;
  /** Config.Hostname: the container's hostname (a DHCP network sends it to the server) */
  hostname: string;
}

/** A container endpoint on a network, as `docker network inspect` shows it. */
export interface NetworkEndpoint {
  endpointId: string;
  /** addresses without their prefix length */
  addresses: string[];
}

export class DockerClient {
  readonly socketPath: string;
  #docker: Promise<Docker> | undefined;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** A client for `endpoint` (OVSVLAN_DOCKER), or undefined when it is empty. */
  static of(endpoint: string): DockerClient | undefined {
    const path = dockerSocketPath(endpoint);
    return path === undefined ? undefined : new DockerClient(path);
  }

  /** The Engine's version (`20.10.24+dfsg1`). */
  async version(o?: CallOptions): Promise<string> {
    return str(obj(await this.#get('/version', {}, o)).Version) || '(version not given)';
  }

  /** DockerRootDir of `docker info` (`/var/lib/docker`); empty when not given. */
  async rootDir(o?: CallOptions): Promise<string> {
    return str(obj(await this.#get('/info', {}, o)).DockerRootDir);
  }

  /** Every container (`all`), or those whose State.Status is one of `status`. */
  async containers(status: readonly string[] | undefined, o?: CallOptions): Promise<ContainerSummary[]> {
    const query = { all: 'true', ...(status ? { filters: JSON.stringify({ status }) } : {}) };
    const out: ContainerSummary[] = [];
    for (const item of list(await this.#get('/containers/json', query, o))) {
      const c = obj(item);
      const id = str(c.Id);
      if (!id) continue;
      const name = list(c.Names).map(str).find(Boolean) ?? id.slice(0, 12);
      out.push({ id, name: name.replace(/^\//, ''), networks: attachments(obj(c.NetworkSettings).Networks) });
    }
    return out;
  }

  /** `docker inspect` of a container; undefined when there is no such container (any more). */
  async container(idOrName: string, o?: CallOptions): Promise<ContainerDetail | undefined> {
    const raw = await this.#get(`/containers/${encodeURIComponent(idOrName)}/json`, {}, o, true);
    if (raw === undefined) return undefined;
    const c = obj(raw);
    const id = str(c.Id);
    if (!id) throw new Error(`Docker answered the inspect of ${idOrName} without an Id`);
    const state = obj(c.State);
    const finished = Date.parse(str(state.FinishedAt));
    return {
      id,
      name: str(c.Name).replace(/^\//, '') || id.slice(0, 12),
      networks: attachments(obj(c.NetworkSettings).Networks),
      status: str(state.Status),
      running: state.Running === true,
      pid: typeof state.Pid === 'number' ? state.Pid : 0,
      error: str(state.Error),
      // Docker's zero time, 0001-01-01T00:00:00Z, is before the epoch
      finishedAt: Number.isFinite(finished) && finished > 0 ? finished : undefined,
      restartPolicy: str(obj(obj(c.HostConfig).RestartPolicy).Name),
      hostname: str(obj(c.Config).Hostname),
    };
  }

  /** `docker start`; bounded by START_TIMEOUT_MS unless told otherwise. Resolves when already running too. */
  async start(id: string, o?: CallOptions): Promise<void> {
    await this.#call('POST', `/containers/${encodeURIComponent(id)}/start`, {}, { 204: true, 304: true },
      { timeoutMs: START_TIMEOUT_MS, ...o });
  }

  /** The container endpoints of a network; undefined when Docker has no such network. */
  async networkEndpoints(id: string, o?: CallOptions): Promise<NetworkEndpoint[] | undefined> {
    const raw = await this.#get(`/networks/${encodeURIComponent(id)}`, {}, o, true);
    if (raw === undefined) return undefined;
    return Object.values(obj(obj(raw).Containers)).map((item) => {
      const c = obj(item);
      return { endpointId: str(c.EndpointID), addresses: [str(c.IPv4Address), str(c.IPv6Address)].filter(Boolean).map((a) => a.split('/')[0] ?? a) };
    });
  }

  /** The IPAM subnets of every Docker network, whatever its drivers, as Docker wrote them. */
  async subnets(o?: CallOptions): Promise<string[]> {
    return list(await this.#get('/networks', {}, o)).flatMap((n) => list(obj(obj(n).IPAM).Config)).map((c) => str(obj(c).Subnet)).filter(Boolean);
  }

  /** Network ID → name, over every Docker network. */
  async networkNames(o?: CallOptions): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    for (const item of list(await this.#get('/networks', {}, o))) {
      const n = obj(item);
      if (str(n.Id)) names.set(str(n.Id), str(n.Name));
    }
    return names;
  }

  /** A GET; with `missingOk`, a 404 answers undefined. */
  #get(path: string, query: Record<string, string>, o: CallOptions | undefined, missingOk = false): Promise<unknown> {
    return this.#call('GET', path, query, { 200: true }, o, missingOk);
  }

  async #call(method: 'GET' | 'POST', path: string, query: Record<string, string>, ok: Record<number, true>,
    o: CallOptions = {}, missingOk = false): Promise<unknown> {
    const docker = await (this.#docker ??= import('dockerode').then(({ default: DockerClass }) => new DockerClass({ socketPath: this.socketPath })));
    const timeoutMs = o.timeoutMs ?? READ_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const abortSignal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    try {
      return await new Promise<unknown>((resolve, reject) => {
        docker.modem.dial({ method, path: `${path}?`, options: { ...query }, abortSignal, statusCodes: { ...ok, 404: 'not found' } },
          (err, data) => (err ? reject(err) : resolve(data)));
      });
    } catch (err) {
      if (missingOk && statusCode(err) === 404) return undefined;
      if (timeout.aborted && !o.signal?.aborted) throw new Error(`Docker at ${this.socketPath} did not answer ${method} ${path} within ${timeoutMs / 1000} s`);
      throw err;
    }
  }
}

/** The HTTP status of a failed call, when Docker answered one. */
export function statusCode(err: unknown): number | undefined {
  const code = obj(err).statusCode;
  return typeof code === 'number' ? code : undefined;
}

type Obj = Record<string, unknown>;

/** `v` when it is a JSON object (or an Error), else an empty one: a missing or mistyped field reads as absent. */
function obj(v: unknown): Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {};
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** NetworkSettings.Networks: network name → its IDs. */
function attachments(v: unknown): Map<string, Attachment> {
  return new Map(Object.entries(obj(v)).map(([name, n]) => [name, { networkId: str(obj(n).NetworkID), endpointId: str(obj(n).EndpointID) }]));
}
