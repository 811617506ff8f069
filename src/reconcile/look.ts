// What one reconciliation run reads of the kernel's links and of OVS's ports,
// shared by its steps: read once, and read again only after an action (or a
// failed step) of the run may have changed them. A run with nothing to repair
// reads each once, whatever the number of endpoints; one that repairs reads
// them as it did before, step by step.
import { listLinks, type LinkInfo } from '../link/links.js';
import type { PortInfo, Vswitch } from '../vswitch/vswitch.js';

interface Read<T> {
  /** the run's count of actions and failures when it was read */
  at: number;
  value: Promise<T>;
}

export class Look {
  readonly #vswitch: Pick<Vswitch, 'listOwnedPorts'>;
  readonly #changes: () => number;
  #links: Read<ReadonlyMap<string, LinkInfo>> | undefined;
  #ports: Read<readonly PortInfo[]> | undefined;

  /** `changes`: the run's count of actions and failed steps so far (anything that may have changed links or ports). */
  constructor(vswitch: Pick<Vswitch, 'listOwnedPorts'>, changes: () => number) {
    this.#vswitch = vswitch;
    this.#changes = changes;
  }

  /** The links of the namespace by name (one netlink dump), as of the run's last change. */
  links(): Promise<ReadonlyMap<string, LinkInfo>> {
    this.#links = this.#fresh(this.#links, async () => new Map((await listLinks()).map((l) => [l.name, l])));
    return this.#links.value;
  }

  /** The OVS ports marked as ovsvlan's (from the OVSDB client's cache), as of the run's last change. */
  ports(): Promise<readonly PortInfo[]> {
    this.#ports = this.#fresh(this.#ports, () => this.#vswitch.listOwnedPorts());
    return this.#ports.value;
  }

  #fresh<T>(last: Read<T> | undefined, read: () => Promise<T>): Read<T> {
    const now = this.#changes();
    return last?.at === now ? last : { at: now, value: read() };
  }
}
