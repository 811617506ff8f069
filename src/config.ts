// Daemon settings: each comes from an OVSVLAN_* environment variable (the
// managed plugin's way) or the matching --flag, is validated once, and is
// frozen. Every bad setting is reported at once.
import { ConfigError } from './errors.js';
import { isValidBridgeName } from './driver/names.js';

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
  { key: 'logLevel', env: 'OVSVLAN_LOG_LEVEL', flag: '--log-level', default: 'info',
    check: (v) => ((LOG_LEVELS as readonly string[]).includes(v) ? undefined : `must be one of ${LOG_LEVELS.join(', ')}`) },
];

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
