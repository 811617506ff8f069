// Parse `docker network create -o key=value` options into a typed NetworkSpec
// before anything is touched (pure). Every error names the option and the
// values it accepts.
import { InvalidOptionError } from '../errors.js';
import { isValidBridgeName } from './names.js';

/** Docker's own MTU option; arrives inside com.docker.network.generic like any -o. */
export const DOCKER_MTU_OPTION = 'com.docker.network.driver.mtu';

export const MIN_VLAN = 1;
export const MAX_VLAN = 4094;
export const MIN_MTU = 68;
export const MAX_MTU = 65535;
export const DEFAULT_MTU = 1500;

export interface NetworkSpec {
  vlan: number;
  bridge: string;
  mtu: number;
}

interface OptionDoc {
  name: string;
  allowed: string;
}

export const NETWORK_OPTIONS: readonly OptionDoc[] = [
  { name: 'vlan', allowed: `a VLAN ID from ${MIN_VLAN} to ${MAX_VLAN}` },
  { name: 'bridge', allowed: 'an OVS bridge name of 1-15 letters, digits, "_", "-" or "." (default: the daemon\'s OVSVLAN_BRIDGE)' },
  { name: 'mtu', allowed: `an MTU from ${MIN_MTU} to ${MAX_MTU} (default ${DEFAULT_MTU})` },
  { name: DOCKER_MTU_OPTION, allowed: `an MTU from ${MIN_MTU} to ${MAX_MTU}, same as mtu` },
];
const KNOWN = new Set(NETWORK_OPTIONS.map((o) => o.name));

/**
 * Builds the spec from the generic options map. `defaultBridge` is the
 * daemon's OVSVLAN_BRIDGE. Throws InvalidOptionError on the first bad option.
 */
export function parseNetworkOptions(generic: Readonly<Record<string, unknown>>, defaultBridge: string): NetworkSpec {
  for (const key of Object.keys(generic)) {
    if (!KNOWN.has(key)) {
      throw new InvalidOptionError(key, `unknown option "${key}"; ovsvlan network options are: ${[...KNOWN].join(', ')}`);
    }
  }
  const vlanRaw = text(generic, 'vlan');
  if (vlanRaw === undefined) {
    throw new InvalidOptionError('vlan', `option "vlan" is required: ${allowed('vlan')}, e.g. --opt vlan=860`);
  }
  const vlan = integer('vlan', vlanRaw, MIN_VLAN, MAX_VLAN);

  const bridge = text(generic, 'bridge') ?? defaultBridge;
  if (!isValidBridgeName(bridge)) {
    throw new InvalidOptionError('bridge', `invalid bridge "${bridge}": must be ${allowed('bridge')}`);
  }
  return { vlan, bridge, mtu: parseMtu(generic) };
}

function parseMtu(generic: Readonly<Record<string, unknown>>): number {
  const own = text(generic, 'mtu');
  const docker = text(generic, DOCKER_MTU_OPTION);
  const mtu = own === undefined ? undefined : integer('mtu', own, MIN_MTU, MAX_MTU);
  const dockerMtu = docker === undefined ? undefined : integer(DOCKER_MTU_OPTION, docker, MIN_MTU, MAX_MTU);
  if (mtu !== undefined && dockerMtu !== undefined && mtu !== dockerMtu) {
    throw new InvalidOptionError('mtu', `options "mtu" (${mtu}) and "${DOCKER_MTU_OPTION}" (${dockerMtu}) disagree; give one of them`);
  }
  return mtu ?? dockerMtu ?? DEFAULT_MTU;
}

function text(generic: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const v = generic[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number') return String(v);
  throw new InvalidOptionError(key, `option "${key}" must be a string: ${allowed(key)}`);
}

function integer(option: string, raw: string, min: number, max: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidOptionError(option, `invalid ${option} "${raw}": must be ${allowed(option)}`);
  }
  return n;
}

function allowed(option: string): string {
  return NETWORK_OPTIONS.find((o) => o.name === option)?.allowed ?? 'a valid value';
}
