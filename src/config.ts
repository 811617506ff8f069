// Daemon settings: each comes from an OVSVLAN_* environment variable (the
// managed plugin's way) or the matching --flag, is validated and parsed once
// (a number is a number, a range is a prefix), and is frozen. Every bad
// setting is reported at once.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CLUSTER_KEYS, clusterSettings, HOST_ID, HOST_ID_FORM, parseEndpoints, parseUnderlayIp, type ClusterKey } from './cluster/settings.js';
import type { ClusterSettings } from './cluster/types.js';
import { ConfigError, quoted } from './errors.js';
import { parsePrefix } from './ipam/address.js';
import type { DefaultRange } from './ipam/pools.js';
import { LISTEN_FORM, parseListenAddress } from './metrics/listen.js';
import { OVS_DATAPATH_DEVICES, hasReservedPrefix, isValidBridgeName } from './names.js';
import type { DatapathSetting } from './vswitch/datapath.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface Config {
  /** Unix socket Docker talks to. */
  readonly socket: string;
  /** OVSDB endpoint, `unix:/path`. */
  readonly ovsdb: string;
  readonly stateDir: string;
  /** Bridge used by networks that do not name one. */
  readonly bridge: string;
  readonly datapath: DatapathSetting;
  readonly logLevel: LogLevel;
  /** Where pools come from without --subnet, per address family (`base/len:size`, comma-separated, in the setting). */
  readonly defaultPools: DefaultPools;
  /** Docker API (never called from a request handler): reconciliation and status read it, the revive starts containers with it; empty: none of these. */
  readonly docker: string;
  /** How old an unclaimed lease or endpoint must be before reconciliation may remove it, in ms (seconds in the setting). */
  readonly leaseGraceMs: number;
  /** `ADDR:PORT` of the Prometheus /metrics and /healthz endpoint; empty: off. */
  readonly metrics: string;
  /** Spare ports each network keeps attached for its next endpoints (0-64; 0: none). */
  readonly spares: number;
  /** Cluster mode (OVSVLAN_ETCD and the settings that go with it); undefined: local mode, this host alone. */
  readonly cluster: ClusterSettings | undefined;
}

export interface Setting {
  /** a Config field, or one of the settings that make up Config.cluster */
  key: Exclude<keyof Config, 'cluster'> | ClusterKey;
  env: string;
  flag: string;
  default: string;
  /** One line for `--help` and the README's settings table. */
  doc: string;
  /** The problem with a value, or undefined when it is good. */
  check?: (v: string) => string | undefined;
  /** What a good value stands for, when it is not the text itself; throws (a ConfigError naming the problem) on a bad one. */
  parse?: (v: string) => unknown;
}

export interface DefaultPools {
  readonly v4: DefaultRange;
  readonly v6: DefaultRange;
}

const DATAPATHS: readonly DatapathSetting[] = ['system', 'netdev', 'auto'];
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export const SETTINGS: readonly Setting[] = [
  { key: 'socket', env: 'OVSVLAN_SOCKET', flag: '--socket', default: '/run/docker/plugins/ovsvlan.sock',
    doc: 'Unix socket Docker finds the plugin on (mode 0660); the plugin is named after the file',
    check: (v) => (v.startsWith('/') ? undefined : 'must be an absolute path') },
  { key: 'ovsdb', env: 'OVSVLAN_OVSDB', flag: '--ovsdb', default: 'unix:/var/run/openvswitch/db.sock',
    doc: 'OVSDB endpoint of the local Open vSwitch',
    check: (v) => (/^unix:\/./.test(v) ? undefined : 'must be unix:/absolute/path/to/db.sock') },
  { key: 'stateDir', env: 'OVSVLAN_STATE_DIR', flag: '--state-dir', default: '/var/lib/ovsvlan',
    doc: 'where networks, endpoints and address leases are kept',
    check: (v) => (v.startsWith('/') ? undefined : 'must be an absolute path') },
  { key: 'bridge', env: 'OVSVLAN_BRIDGE', flag: '--bridge', default: 'ovs0',
    doc: 'bridge of the networks that name none',
    check: (v) => (isValidBridgeName(v) && !hasReservedPrefix(v) && !OVS_DATAPATH_DEVICES.includes(v) ? undefined
      : `must be 1-15 letters, digits, "_", "-" or "." starting with a letter or digit, and not a name ovsvlan makes (ovb/ovt/ovi/ovh/ovc + 12 hex) nor ${OVS_DATAPATH_DEVICES.join(' or ')}`) },
  { key: 'datapath', env: 'OVSVLAN_DATAPATH', flag: '--datapath', default: 'auto',
    doc: 'datapath of the bridges ovsvlan creates: system (kernel), netdev (userspace) or auto (system where the openvswitch module is loaded)',
    check: (v) => ((DATAPATHS as readonly string[]).includes(v) ? undefined : `must be one of ${DATAPATHS.join(', ')}`) },
  { key: 'defaultPools', env: 'OVSVLAN_DEFAULT_POOLS', flag: '--default-pools', default: '10.200.0.0/16:24,fd6f:7673:766c::/48:64',
    doc: 'where the IPAM driver takes a subnet when --subnet is not given: base/len:size, one per address family',
    parse: (v) => parseDefaultPools(v) },
  { key: 'docker', env: 'OVSVLAN_DOCKER', flag: '--docker', default: 'unix:///var/run/docker.sock',
    doc: 'Docker API: read by reconciliation and status, and used to start the containers Docker gave up on while ovsvlan was missing (never from a request handler); empty: neither',
    check: (v) => (v === '' || /^unix:\/\/\/./.test(v) ? undefined : 'must be unix:///path/to/docker.sock, or empty to not read Docker') },
  { key: 'leaseGraceMs', env: 'OVSVLAN_LEASE_GRACE', flag: '--lease-grace', default: '60',
    doc: 'seconds before reconciliation may free an unclaimed lease or remove a vanished endpoint',
    check: (v) => (/^\d{1,6}$/.test(v) ? undefined : 'must be a number of seconds (0-999999)'),
    parse: (v) => Number(v) * 1000 },
  { key: 'spares', env: 'OVSVLAN_SPARES', flag: '--spares', default: '4',
    doc: 'veth pairs each network keeps attached and tagged, handed out at CreateEndpoint so that no container waits for OVS to reconfigure its bridge; a burst may grow the pool to 16 times this; 0: none',
    check: (v) => (/^(0|[1-9][0-9]?)$/.test(v) && Number(v) <= 64 ? undefined : 'must be a number from 0 to 64'),
    parse: (v) => Number(v) },
  { key: 'metrics', env: 'OVSVLAN_METRICS', flag: '--metrics', default: '',
    doc: 'IP:PORT to serve Prometheus metrics on (GET /metrics) and a health check (GET /healthz); empty: off',
    check: (v) => (v === '' || parseListenAddress(v) ? undefined : LISTEN_FORM) },
  { key: 'etcd', env: 'OVSVLAN_ETCD', flag: '--etcd', default: '',
    doc: 'cluster mode: etcd client URLs, comma-separated (http:// or https://HOST:PORT, one scheme for all; TLS files need https://); networks and addresses are then shared with the other hosts on that etcd; empty: local mode',
    parse: (v) => parseEndpoints(v) },
  { key: 'etcdCa', env: 'OVSVLAN_ETCD_CA', flag: '--etcd-ca', default: '',
    doc: 'cluster mode: PEM file of the CA that signed the etcd servers\' certificates (https endpoints); empty: the system\'s CAs (also with a client certificate)',
    check: (v) => (v === '' || v.startsWith('/') ? undefined : 'must be an absolute path, or empty') },
  { key: 'etcdCert', env: 'OVSVLAN_ETCD_CERT', flag: '--etcd-cert', default: '',
    doc: 'cluster mode: PEM client certificate for etcd, with OVSVLAN_ETCD_KEY; empty: none',
    check: (v) => (v === '' || v.startsWith('/') ? undefined : 'must be an absolute path, or empty') },
  { key: 'etcdKey', env: 'OVSVLAN_ETCD_KEY', flag: '--etcd-key', default: '',
    doc: 'cluster mode: PEM private key of OVSVLAN_ETCD_CERT; empty: none',
    check: (v) => (v === '' || v.startsWith('/') ? undefined : 'must be an absolute path, or empty') },
  { key: 'etcdPrefix', env: 'OVSVLAN_ETCD_PREFIX', flag: '--etcd-prefix', default: '/ovsvlan',
    doc: 'cluster mode: every key ovsvlan keeps in etcd is under it (one cluster of ovsvlan hosts per prefix)',
    check: (v) => (/^\/[A-Za-z0-9_./-]+$/.test(v) && !v.endsWith('/') ? undefined : 'must be "/" followed by letters, digits, "_", ".", "/" or "-", not ending in "/"') },
  { key: 'hostId', env: 'OVSVLAN_HOST_ID', flag: '--host-id', default: '',
    doc: 'cluster mode: this host\'s name in the cluster, stable across restarts; empty: the content of /etc/machine-id',
    check: (v) => (v === '' || HOST_ID.test(v) ? undefined : HOST_ID_FORM) },
  { key: 'underlayIp', env: 'OVSVLAN_UNDERLAY_IP', flag: '--underlay-ip', default: '',
    doc: 'cluster mode: this host\'s tunnel endpoint address for mesh overlays; empty: the first global address of the interface holding the default route',
    parse: (v) => parseUnderlayIp(v) },
  { key: 'meshGraceMs', env: 'OVSVLAN_MESH_GRACE', flag: '--mesh-grace', default: '60',
    doc: 'cluster mode: seconds a host that stopped renewing its liveness record keeps its tunnels on the others',
    check: (v) => (/^\d{1,6}$/.test(v) ? undefined : 'must be a number of seconds (0-999999)'),
    parse: (v) => Number(v) * 1000 },
  { key: 'logLevel', env: 'OVSVLAN_LOG_LEVEL', flag: '--log-level', default: 'info',
    doc: 'fatal, error, warn, info, debug or trace',
    check: (v) => ((LOG_LEVELS as readonly string[]).includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`) },
];

/**
 * `10.200.0.0/16:24,fd00::/48:64`: at most one range per family, each size not
 * shorter than its base; a family not given keeps its default range. Throws a
 * ConfigError naming the item and the form.
 */
export function parseDefaultPools(v: string): DefaultPools {
  const out: { v4?: DefaultRange; v6?: DefaultRange } = {};
  const example = 'e.g. 10.200.0.0/16:24,fd6f:7673:766c::/48:64';
  for (const item of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(.+\/\d{1,3}):(\d{1,3})$/.exec(item);
    const base = m && parsePrefix(m[1] ?? '');
    if (!m || !base) throw new ConfigError(`${quoted(item)} is not base/len:size with a base that has no host bits set; ${example}`);
    const family = base.family === 6 ? 'v6' : 'v4';
    const bits = Number(m[2]);
    const width = base.family === 6 ? 128 : 32;
    if (bits < base.bits || bits > width) throw new ConfigError(`${quoted(item)}: size must be between ${base.bits} and ${width}; ${example}`);
    if (out[family]) throw new ConfigError(`${quoted(item)}: only one range per address family; ${example}`);
    out[family] = Object.freeze({ base: Object.freeze(base), bits });
  }
  return Object.freeze({ v4: out.v4 ?? DEFAULT_RANGES.v4, v6: out.v6 ?? DEFAULT_RANGES.v6 });
}

const readMachineId = (): string => readFileSync('/etc/machine-id', 'utf8');

function named(key: ClusterKey): string {
  const s = SETTINGS.find((x) => x.key === key);
  return s ? `${s.env} (${s.flag})` : key;
}

const DEFAULT_RANGES: DefaultPools = {
  v4: { base: parsePrefix('10.200.0.0/16')!, bits: 24 },
  v6: { base: parsePrefix('fd6f:7673:766c::/48')!, bits: 64 },
};

/** A command's own flag: `--json` (boolean) or `--settings-file PATH` (string). */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly help: string;
}

export interface CommandLine {
  /** Setting flags given (`--bridge` → value). */
  readonly settings: ReadonlyMap<string, string>;
  /** The command's own flags, by name without dashes. */
  readonly own: Readonly<Record<string, string | boolean | undefined>>;
  readonly help: boolean;
}

/**
 * Parses `--flag value` and `--flag=value` (node:util parseArgs): a flag never
 * takes the next flag as its value, and an unknown flag or a stray argument is
 * an error naming it, and so is a flag given twice with two values. Setting
 * flags are accepted unless `withSettings` is false (a command that takes none).
 */
export function parseCommandLine(argv: readonly string[], own: Readonly<Record<string, FlagSpec>> = {}, withSettings = true): CommandLine {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  if (withSettings) for (const s of SETTINGS) options[s.flag.slice(2)] = { type: 'string' };
  for (const [name, spec] of Object.entries(own)) options[name] = { type: spec.type };
  let values: Record<string, string | boolean | undefined>;
  const known = [...(withSettings ? SETTINGS.map((s) => s.flag) : []), ...Object.keys(own).map((f) => `--${f}`), '--help'];
  try {
    const parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false, tokens: true });
    values = parsed.values;
    checkRepeats(parsed.tokens);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${describeParseError(err as Error & { code?: string })}; known flags: ${known.join(', ')}`);
  }
  const settings = new Map<string, string>();
  const ownValues: Record<string, string | boolean | undefined> = {};
  for (const [name, value] of Object.entries(values)) {
    if (name === 'help') continue;
    if (name in own) ownValues[name] = value;
    else settings.set(`--${name}`, String(value));
  }
  return { settings, own: ownValues, help: values['help'] === true };
}

/** A flag given twice with different values is refused: which one was meant? */
function checkRepeats(tokens: ReadonlyArray<{ kind: string; name?: string; rawName?: string; value?: string | undefined }>): void {
  const seen = new Map<string, string | undefined>();
  for (const tok of tokens) {
    if (tok.kind !== 'option' || tok.name === undefined) continue;
    const flag = `--${tok.name}`;
    if (seen.has(flag) && seen.get(flag) !== tok.value) {
      throw new ConfigError(`${shown(flag)} is given twice (${quoted(seen.get(flag) ?? '')}, then ${quoted(tok.value ?? '')}): give it once`);
    }
    seen.set(flag, tok.value);
  }
}

/** A flag's name as an error repeats it: at most a short prefix of what was typed. */
function shown(flag: string): string {
  return /^--?[\w-]{1,64}$/.test(flag) ? flag : quoted(flag);
}

function describeParseError(err: Error & { code?: string }): string {
  const flag = /'(--?[\w-]+)/.exec(err.message)?.[1] ?? '';
  if (/ambiguous/.test(err.message)) return `${shown(flag)} needs a value but is followed by a flag (write ${shown(flag)}=VALUE for a value that starts with "-")`;
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown flag ${shown(flag)}`;
  return err.message.split('\n')[0]?.replace(/\.$/, '') ?? err.message;
}

/**
 * Flags win over environment variables, which win over defaults. Every bad
 * setting is reported at once. `machineId` reads the default host id of
 * cluster mode (/etc/machine-id), only when OVSVLAN_ETCD is set and
 * OVSVLAN_HOST_ID is not.
 */
export function resolveConfig(flags: ReadonlyMap<string, string>, env: Readonly<Record<string, string | undefined>>,
  machineId: () => string = readMachineId): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  const cluster: Record<string, unknown> = {};
  const given = new Set<ClusterKey>();
  for (const s of SETTINGS) {
    const value = flags.get(s.flag) ?? env[s.env] ?? s.default;
    const into = CLUSTER_KEYS.has(s.key) ? cluster : out;
    if (into === cluster && value !== s.default) given.add(s.key as ClusterKey);
    let problem = s.check?.(value);
    try {
      into[s.key] = problem || !s.parse ? value : s.parse(value);
    } catch (err) {
      problem = (err as Error).message;
    }
    if (problem) problems.push(`${s.env} (${s.flag}) ${quoted(value)}: ${problem}`);
  }
  out['cluster'] = clusterSettings(cluster, given, problems, named, machineId);
  if (problems.length > 0) throw new ConfigError(`invalid settings:\n  ${problems.join('\n  ')}`);
  return Object.freeze(out as unknown as Config);
}

/** The daemon's settings from its command line (setting flags only) and environment. */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>,
  machineId: () => string = readMachineId): Config {
  return resolveConfig(parseCommandLine(argv).settings, env, machineId);
}
