// The key layout in etcd, under the configured prefix (docs/cluster.md):
//   <p>/v1/networks/<ident>            NetworkDefinition (JSON)
//   <p>/v1/ip/<ident>/<address>        AddressHolder (JSON), never on a lease
//   <p>/v1/alive/<host>                HostRecord (JSON) as put at start, on the host's lease: what the
//                                      mesh watches (a prefix of its own: one event per join or departure)
//   <p>/v1/hosts/<host>/info           HostRecord (JSON) with its tunnel counts and conflicts, updated as
//                                      they change, unleased (status, post-mortem): watched by no one
//   <p>/v1/hosts/<host>/epoch          a decimal number, bumped by compare-and-swap at each start
//   <p>/v1/fence/<host>                {by, at} (JSON): written by `ipam reclaim`, cleared by the host once restored
// Addresses are canonical text; IPv6 colons are kept (etcd keys are bytes).
import type { NetworkIdent } from './types.js';

export class Keys {
  readonly root: string;
  constructor(prefix: string) {
    this.root = `${prefix.replace(/\/+$/, '')}/v1`;
  }
  networks(): string {
    return `${this.root}/networks/`;
  }
  network(ident: NetworkIdent): string {
    return `${this.networks()}${ident}`;
  }
  /** every address key, or those of one network */
  addresses(ident?: NetworkIdent): string {
    return ident === undefined ? `${this.root}/ip/` : `${this.root}/ip/${ident}/`;
  }
  address(ident: NetworkIdent, address: string): string {
    return `${this.addresses(ident)}${address}`;
  }
  /** `<ident>/<address>` of an address key, or undefined */
  parseAddress(key: string): { ident: NetworkIdent; address: string } | undefined {
    const rest = key.startsWith(this.addresses()) ? key.slice(this.addresses().length) : undefined;
    const slash = rest?.indexOf('/') ?? -1;
    return rest !== undefined && slash > 0 ? { ident: rest.slice(0, slash), address: rest.slice(slash + 1) } : undefined;
  }
  hosts(): string {
    return `${this.root}/hosts/`;
  }
  /** every host's liveness key */
  alives(): string {
    return `${this.root}/alive/`;
  }
  alive(host: string): string {
    return `${this.alives()}${host}`;
  }
  /** the host id of a liveness key, or undefined */
  parseAlive(key: string): string | undefined {
    const host = key.startsWith(this.alives()) ? key.slice(this.alives().length) : '';
    return host !== '' && !host.includes('/') ? host : undefined;
  }
  info(host: string): string {
    return `${this.hosts()}${host}/info`;
  }
  epoch(host: string): string {
    return `${this.hosts()}${host}/epoch`;
  }
  /** `{host, kind}` of a key under hosts/, or undefined */
  parseHost(key: string): { host: string; kind: 'info' | 'epoch' } | undefined {
    const m = key.startsWith(this.hosts()) ? /^([^/]+)\/(info|epoch)$/.exec(key.slice(this.hosts().length)) : null;
    return m ? { host: m[1]!, kind: m[2] as 'info' | 'epoch' } : undefined;
  }
  fences(): string {
    return `${this.root}/fence/`;
  }
  fence(host: string): string {
    return `${this.fences()}${host}`;
  }
}
