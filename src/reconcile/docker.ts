// Docker's view of ovsvlan's networks, for the reconciler and `ovsvlan status`
// (both judge by it, reconcile/gone.ts), and Docker's names of networks and
// endpoints, which status shows. Through the shared DockerClient: every
// read bounded (dockerd may itself be starting and waiting for this plugin),
// never from a request handler. Docker not configured or not answering reads
// as undefined: the callers then do without.
import { DockerClient } from '../docker/client.js';
import { parsePrefix } from '../ipam/address.js';

export interface DockerEndpoint {
  endpointId: string;
  /** addresses without mask */
  addresses: string[];
}

export interface DockerView {
  /** networkId → its endpoints, or null when Docker has no such network */
  networks: Map<string, DockerEndpoint[] | null>;
  /** canonical subnets of every Docker network, whatever its drivers */
  subnets: Set<string>;
  /** the IDs of every container Docker has, whatever its state */
  containers: Set<string>;
}

/** Per read: the first reconciliation reads Docker while requests wait, and status must not hang on a silent dockerd. */
const TIMEOUT = { timeoutMs: 3_000 };

export class DockerReader {
  readonly #client: DockerClient | undefined;

  /** `endpoint`: OVSVLAN_DOCKER; empty: Docker is never read. */
  constructor(endpoint: string) {
    this.#client = DockerClient.of(endpoint);
  }

  /** Undefined when Docker is not configured or does not answer in time. */
  async view(networkIds: readonly string[]): Promise<DockerView | undefined> {
    if (!this.#client) return undefined;
    try {
      const subnets = new Set((await this.#client.subnets(TIMEOUT)).map((s) => parsePrefix(s)?.cidr).filter((c): c is string => c !== undefined));
      const networks = new Map<string, DockerEndpoint[] | null>();
      for (const id of networkIds) networks.set(id, (await this.#client.networkEndpoints(id, TIMEOUT)) ?? null);
      const containers = new Set((await this.#client.containers(undefined, TIMEOUT)).map((c) => c.id));
      return { networks, subnets, containers };
    } catch {
      return undefined;
    }
  }

  /**
   * The container attached through `endpointId`, with its hostname;
   * undefined when Docker is not configured, does not answer, or has none.
   * Called in the background after a DHCP endpoint's Join (driver/dhcp-renewal.ts), never from a handler.
   */
  async containerOfEndpoint(endpointId: string): Promise<{ id: string; hostname: string } | undefined> {
    if (!this.#client) return undefined;
    try {
      const c = (await this.#client.containers(undefined, TIMEOUT)).find((x) => [...x.networks.values()].some((n) => n.endpointId === endpointId));
      const d = c && await this.#client.container(c.id, TIMEOUT);
      return d && { id: d.id, hostname: d.hostname };
    } catch {
      return undefined;
    }
  }

  /** Network ID → name, over every network; undefined when Docker is not configured or does not answer. */
  async networkNames(): Promise<Map<string, string> | undefined> {
    return this.#client?.networkNames(TIMEOUT).catch(() => undefined);
  }

  /** Endpoint ID → container name, over every container; undefined when Docker is not configured or does not answer. */
  async containerNames(): Promise<Map<string, string> | undefined> {
    if (!this.#client) return undefined;
    try {
      const names = new Map<string, string>();
      for (const c of await this.#client.containers(undefined, TIMEOUT)) {
        for (const n of c.networks.values()) if (n.endpointId) names.set(n.endpointId, c.name);
      }
      return names;
    } catch {
      return undefined;
    }
  }
}
