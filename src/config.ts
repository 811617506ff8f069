// Daemon settings: each comes from an OVSVLAN_* environment variable (the
// managed plugin's way) or the matching --flag, is validated once, and is
// frozen. Every bad setting is reported at once.
import { ConfigError } from './errors.js';
import { isValidBridgeName } from './names.js';

export type Datapath = 'system' | 'netdev' | 'auto';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface Config {
  /** Unix socket Docker talks to. */
  readonly socket: string;
  /** OVSDB endpoint, `unix:/path`. */
  readonly ovsdb: string;
  readonly stateDir: string;
  /** Bridge used by networks that do not name one. */
  readonly bridge: string;
  readonly datapath: Datapath;
  readonly logLevel: LogLevel;
  /** Where pools come from without --subnet: `base/len:size` per family, comma-separated. */
  readonly defaultPools: string;
  /** Docker API endpoint read (never from a request handler) to find leaked leases; empty: don't. */
  readonly docker: string;
  /** Seconds an unclaimed lease or endpoint must be old before reconciliation may remove it. */
  readonly leaseGrace: string;
}

interface Setting {
  key: keyof Config;
  env: string;
  flag: string;
  default: string;
  check?: (v: string) => string | undefined;
}

const DATAPATHS: readonly Datapath[] = ['system', 'netdev', 'auto'];
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export const SETTINGS: readonly Setting[] = [
  { key: 'socket', env: 'OVSVLAN_SOCKET', flag: '--socket', default: '/run/docker/plugins/ovsvlan.sock',
    check: (v) => (v.startsWith('/') ? undefined : 'must be an absolute path') },
  { key: 'ovsdb', env: 'OVSVLAN_OVSDB', flag: '--ovsdb', default: 'unix:/var/run/openvswitch/db.sock',
    check: (v) => (/^unix:\/./.test(v) ? undefined : 'must be unix:/absolute/path/to/db.sock') },
  { key: 'stateDir', env: 'OVSVLAN_STATE_DIR', flag: '--state-dir', default: '/var/lib/ovsvlan',
    check: (v) => (v.startsWith('/') ? undefined : 'must be an absolute path') },
  { key: 'bridge', env: 'OVSVLAN_BRIDGE', flag: '--bridge', default: 'ovs0',
    check: (v) => (isValidBridgeName(v) ? undefined : 'must be 1-15 characters of letters, digits, "_", "-" and "."') },
  { key: 'datapath', env: 'OVSVLAN_DATAPATH', flag: '--datapath', default: 'auto',
    check: (v) => ((DATAPATHS as readonly string[]).includes(v) ? undefined : `must be one of ${DATAPATHS.join(', ')}`) },
  { key: 'defaultPools', env: 'OVSVLAN_DEFAULT_POOLS', flag: '--default-pools', default: '10.200.0.0/16:24,fd6f:7673:766c::/48:64',
    check: (v) => checkDefaultPools(v) },
  { key: 'docker', env: 'OVSVLAN_DOCKER', flag: '--docker', default: 'unix:///var/run/docker.sock',
    check: (v) => (v === '' || /^unix:\/\/\/./.test(v) ? undefined : 'must be unix:///path/to/docker.sock, or empty to not read Docker') },
  { key: 'leaseGrace', env: 'OVSVLAN_LEASE_GRACE', flag: '--lease-grace', default: '60',
    check: (v) => (/^\d{1,6}$/.test(v) ? undefined : 'must be a number of seconds (0-999999)') },
  { key: 'logLevel', env: 'OVSVLAN_LOG_LEVEL', flag: '--log-level', default: 'info',
    check: (v) => ((LOG_LEVELS as readonly string[]).includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`) },
];

/** `10.200.0.0/16:24,fd00::/48:64`: at most one range per family, each size not shorter than its base. */
export function parseDefaultPools(v: string): { v4?: { base: string; bits: number }; v6?: { base: string; bits: number } } {
  const out: { v4?: { base: string; bits: number }; v6?: { base: string; bits: number } } = {};
  for (const item of v.split(',').map((x) => x.trim()).filter(Boolean)) {
    const m = /^(.+)\/(\d{1,3}):(\d{1,3})$/.exec(item);
    if (!m) throw new ConfigError(`"${item}" is not base/len:size`);
    const [, base = '', len = '', size = ''] = m;
    const v6 = base.includes(':');
    if (Number(size) < Number(len) || Number(size) > (v6 ? 128 : 32)) throw new ConfigError(`"${item}": size must be between ${len} and ${v6 ? 128 : 32}`);
    if (out[v6 ? 'v6' : 'v4']) throw new ConfigError(`"${item}": only one range per address family`);
    out[v6 ? 'v6' : 'v4'] = { base: `${base}/${len}`, bits: Number(size) };
  }
  return out;
}

function checkDefaultPools(v: string): string | undefined {
  try {
    parseDefaultPools(v);
    return undefined;
  } catch (err) {
    return `${(err as Error).message}; e.g. 10.200.0.0/16:24,fd6f:7673:766c::/48:64`;
  }
}

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Config {
  const flags = parseFlags(argv);
  const problems: string[] = [];
  const out: Record<string, string> = {};
  for (const s of SETTINGS) {
    const value = flags.get(s.flag) ?? env[s.env] ?? s.default;
    flags.delete(s.flag);
    const problem = s.check?.(value);
    if (problem) problems.push(`${s.env} (${s.flag}) "${value}": ${problem}`);
    out[s.key] = value;
  }
  for (const f of flags.keys()) problems.push(`unknown flag ${f}; known flags: ${SETTINGS.map((s) => s.flag).join(', ')}`);
  if (problems.length > 0) throw new ConfigError(`invalid settings:\n  ${problems.join('\n  ')}`);
  return Object.freeze(out as unknown as Config);
}

function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags.set(arg.slice(0, eq), arg.slice(eq + 1));
    } else {
      flags.set(arg, argv[i + 1] ?? '');
      i++;
    }
  }
  return flags;
}
