// Cluster mode's settings (OVSVLAN_ETCD*, OVSVLAN_HOST_ID, OVSVLAN_UNDERLAY_IP,
// OVSVLAN_MESH_GRACE): the checks of single values, and ClusterSettings built
// from them once every setting is parsed. config.ts declares the settings and
// calls these; nothing here loads etcd. Every check of the TLS settings is
// here (etcd-kv.ts only reads the files): a CA is optional (empty: the
// system's CAs, also with a client certificate).
import { ConfigError } from '../errors.js';
import { format, parseAddress } from '../ipam/address.js';
import type { ClusterSettings } from './types.js';

export const HOST_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const HOST_ID_FORM = 'must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit';

/** The settings that make up ClusterSettings, by their key in config.ts's SETTINGS. */
export type ClusterKey = 'etcd' | 'etcdCa' | 'etcdCert' | 'etcdKey' | 'etcdPrefix' | 'hostId' | 'underlayIp' | 'meshGraceMs';
export const CLUSTER_KEYS: ReadonlySet<string> = new Set<ClusterKey>(['etcd', 'etcdCa', 'etcdCert', 'etcdKey', 'etcdPrefix', 'hostId', 'underlayIp', 'meshGraceMs']);

/**
 * OVSVLAN_ETCD: `https://10.0.0.1:2379,https://10.0.0.2:2379` → the URLs
 * (scheme and host:port only); '' → none (local mode). Throws a ConfigError
 * naming the bad item and the form.
 */
export function parseEndpoints(v: string): string[] {
  const form = 'http:// or https:// client URLs with a port, comma-separated, e.g. https://10.0.0.1:2379,https://10.0.0.2:2379';
  return v.split(',').map((x) => x.trim()).filter(Boolean).map((item) => {
    let url: URL | undefined;
    try {
      url = new URL(item);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.hostname === '' || url.port === '' || url.username !== ''
      || url.password !== '' || !['', '/'].includes(url.pathname) || url.search !== '' || url.hash !== '') {
      throw new ConfigError(`"${item}" is not an etcd client URL: must be ${form}`);
    }
    return `${url.protocol}//${url.host}`;
  });
}

/** OVSVLAN_UNDERLAY_IP: '' (resolved at start) or an IPv4/IPv6 address, in canonical text. Throws a ConfigError. */
export function parseUnderlayIp(v: string): string {
  if (v === '') return '';
  const a = parseAddress(v);
  if (!a) throw new ConfigError('must be an IPv4 or IPv6 address without prefix length, or empty to use the address of the interface holding the default route');
  return format(a.family, a.value);
}

/**
 * Config.cluster from the parsed cluster settings (`raw`, by key), called by
 * resolveConfig once every setting is read: undefined without OVSVLAN_ETCD.
 * Adds to `problems` a certificate without its key (or the other way round),
 * TLS files with http:// endpoints, http:// and https:// endpoints mixed,
 * cluster settings given (`given`: set to something else than their default)
 * without OVSVLAN_ETCD, and a host id neither set nor readable from
 * /etc/machine-id (`machineId` is read only then). `named` spells a setting
 * as the messages do: `OVSVLAN_X (--x)`.
 */
export function clusterSettings(raw: Readonly<Record<string, unknown>>, given: ReadonlySet<ClusterKey>, problems: string[],
  named: (key: ClusterKey) => string, machineId: () => string): ClusterSettings | undefined {
  const endpoints = raw['etcd'] as string[] | undefined;
  if (!endpoints || endpoints.length === 0) {
    const stray = [...given].filter((k) => k !== 'etcd');
    if (stray.length > 0) {
      problems.push(`${stray.map(named).join(', ')}: only for cluster mode; set ${named('etcd')} too, or leave ${stray.length > 1 ? 'them' : 'it'} unset`);
    }
    return undefined;
  }
  const path = (key: ClusterKey): string | undefined => (raw[key] as string | undefined) || undefined;
  if ((path('etcdCert') === undefined) !== (path('etcdKey') === undefined)) {
    problems.push(`${named('etcdCert')} and ${named('etcdKey')}: give both (a client certificate and its key) or neither`);
  }
  const tls = (['etcdCa', 'etcdCert', 'etcdKey'] as const).filter((k) => path(k) !== undefined);
  const plain = endpoints.filter((e) => e.startsWith('http://'));
  if (tls.length > 0 && plain.length > 0) {
    problems.push(`${named('etcd')}: ${plain.join(', ')} ${plain.length > 1 ? 'are' : 'is'} http://, but ${tls.map(named).join(', ')} ${tls.length > 1 ? 'are' : 'is'} set: TLS files need https:// endpoints (use https://, or leave the files unset)`);
  } else if (plain.length > 0 && plain.length < endpoints.length) {
    problems.push(`${named('etcd')}: mixes http:// and https:// endpoints; use one scheme for all`);
  }
  let hostId = (raw['hostId'] as string | undefined) ?? '';
  if (hostId === '') {
    try {
      hostId = machineId().trim();
      if (!HOST_ID.test(hostId)) {
        problems.push(`${named('hostId')}: not set, and /etc/machine-id holds "${hostId.slice(0, 64)}", which is not a host id (${HOST_ID_FORM}); set it`);
      }
    } catch (err) {
      problems.push(`${named('hostId')}: not set, and /etc/machine-id cannot be read (${(err as Error).message}); set it`);
    }
  }
  return Object.freeze({
    endpoints: Object.freeze([...endpoints]),
    ca: path('etcdCa'),
    cert: path('etcdCert'),
    key: path('etcdKey'),
    prefix: (raw['etcdPrefix'] as string | undefined) ?? '/ovsvlan',
    hostId,
    underlayIp: (raw['underlayIp'] as string | undefined) ?? '',
    meshGraceMs: (raw['meshGraceMs'] as number | undefined) ?? 60_000,
  });
}
