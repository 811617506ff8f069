// Docker's view of ovsvlan's networks, read with dockerode. Only the
// reconciler uses it, never a request handler, and every read is bounded:
// dockerd may itself be starting and waiting for this plugin.
import type Docker from 'dockerode';
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
}

interface NetworkInspect {
  Containers?: Record<string, { EndpointID?: string; IPv4Address?: string; IPv6Address?: string }> | null;
  IPAM?: { Config?: Array<{ Subnet?: string }> | null } | null;
}

const TIMEOUT_MS = 3_000;

export class DockerReader {
  readonly #socketPath: string | undefined;
  #docker: Docker | undefined;
  constructor(endpoint: string) {
    this.#socketPath = endpoint ? endpoint.replace(/^unix:\/\//, '') : undefined;
  }

  /** Undefined when Docker is not configured or does not answer in time. */
  async view(networkIds: readonly string[]): Promise<DockerView | undefined> {
    if (!this.#socketPath) return undefined;
    try {
      // loaded on first use: a daemon that never reads Docker (the managed plugin) never pays for it
      const { default: DockerClient } = await import('dockerode');
      const docker = (this.#docker ??= new DockerClient({ socketPath: this.#socketPath, timeout: TIMEOUT_MS }));
      await withTimeout(docker.ping());
      const networks = new Map<string, DockerEndpoint[] | null>();
      for (const id of networkIds) networks.set(id, await this.#endpoints(docker, id));
      const all = (await withTimeout(docker.listNetworks())) as NetworkInspect[];
      const subnets = new Set(all.flatMap((n) => n.IPAM?.Config ?? []).map((c) => parsePrefix(c.Subnet ?? '')?.cidr)
        .filter((c): c is string => c !== undefined));
      return { networks, subnets };
    } catch {
      return undefined;
    }
  }

  /** Endpoint ID → container name, over every container; undefined when Docker is not configured or does not answer. */
  async containerNames(): Promise<Map<string, string> | undefined> {
    if (!this.#socketPath) return undefined;
    try {
      const { default: DockerClient } = await import('dockerode');
      const docker = (this.#docker ??= new DockerClient({ socketPath: this.#socketPath, timeout: TIMEOUT_MS }));
      const containers = await withTimeout(docker.listContainers({ all: true }));
      const names = new Map<string, string>();
      for (const c of containers) {
        const name = (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, '');
        for (const net of Object.values(c.NetworkSettings?.Networks ?? {})) if (net.EndpointID) names.set(net.EndpointID, name);
      }
      return names;
    } catch {
      return undefined;
    }
  }

  async #endpoints(docker: Docker, id: string): Promise<DockerEndpoint[] | null> {
    try {
      const info = (await withTimeout(docker.getNetwork(id).inspect())) as NetworkInspect;
      return Object.values(info.Containers ?? {}).map((c) => ({
        endpointId: c.EndpointID ?? '',
        addresses: [c.IPv4Address, c.IPv6Address].filter((a): a is string => Boolean(a)).map((a) => a.split('/')[0] ?? a),
      }));
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw err;
    }
  }
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('docker did not answer')), TIMEOUT_MS).unref())]);
}
