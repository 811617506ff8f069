// Parse `docker network create -o key=value` options into a typed NetworkSpec
// before anything is touched (pure). Every error names the option and the
// values it accepts, and repeats at most a short prefix of the value given.
// Values are read exactly as given (Docker sends every -o value as a string):
// numbers in plain decimal (no sign, spaces, exponent or leading zeros, so
// `010` is not taken for 10 nor `1e3` for 1000), names and addresses with no
// surrounding spaces.
import { InvalidOptionError, quoted } from '../errors.js';
import { format, parseAddress, parseInterfaceAddress } from '../ipam/address.js';
import type { Mode } from '../model.js';
import { OVS_DATAPATH_DEVICES, hasReservedPrefix, isValidBridgeName } from '../names.js';
import type { DhcpSettings } from '../dhcp/types.js';
import { DHCP_OPTION_DOCS, parseDhcpOptions } from './dhcp-options.js';

/** Docker's own MTU option; arrives inside com.docker.network.generic like any -o. */
export const DOCKER_MTU_OPTION = 'com.docker.network.driver.mtu';

export const MIN_VLAN = 1;
export const MAX_VLAN = 4094;
export const MIN_MTU = 68;
export const MAX_MTU = 65535;
export const DEFAULT_MTU = 1500;
export const MAX_VNI = 16_777_215;
export const MAX_GRE_KEY = 4_294_967_295;
export const MAX_REMOTES = 256;


interface CommonSpec {
  /** `mtu` or Docker's MTU option; undefined: the default for the mode */
  mtu: number | undefined;
  /** `host_ip`: an address (CIDR) for the host on this network */
  hostIp: string | undefined;
  /** `dhcp=on`: addresses from the DHCP server on the network (dhcp-options.ts); absent when off */
  dhcp?: DhcpSettings;
}

export interface VlanSpec extends CommonSpec {
  mode: 'vlan';
  vlan: number;
  bridge: string;
  uplink: string | undefined;
  nativeVlan: number | undefined;
}

export interface OverlaySpec extends CommonSpec {
  mode: 'vxlan' | 'gre';
  /** the VNI (vxlan) or the GRE key */
  key: number;
  /** empty for a mesh */
  remotes: string[];
  /** cluster mode without remote=: the tunnels follow the cluster's live hosts (cluster/mesh.ts) */
  mesh: boolean;
}

export type NetworkSpec = VlanSpec | OverlaySpec;

interface OptionDoc {
  name: string;
  allowed: string;
  modes: readonly Mode[];
}

const ALL: readonly Mode[] = ['vlan', 'vxlan', 'gre'];
export const NETWORK_OPTIONS: readonly OptionDoc[] = [
  { name: 'mode', allowed: 'one of vlan, vxlan, gre (default vlan)', modes: ALL },
  { name: 'vlan', allowed: `a VLAN ID from ${MIN_VLAN} to ${MAX_VLAN}`, modes: ['vlan'] },
  { name: 'bridge', allowed: 'an OVS bridge name of 1-15 letters, digits, "_", "-" or "." (default: the daemon\'s OVSVLAN_BRIDGE)', modes: ['vlan'] },
  { name: 'mtu', allowed: `an MTU from ${MIN_MTU} to ${MAX_MTU}`, modes: ALL },
  { name: DOCKER_MTU_OPTION, allowed: `an MTU from ${MIN_MTU} to ${MAX_MTU}, same as mtu`, modes: ALL },
  { name: 'uplink', allowed: 'the name of an existing interface with no IP address, to carry the bridge\'s VLANs as an 802.1Q trunk', modes: ['vlan'] },
  { name: 'native_vlan', allowed: `a VLAN ID from ${MIN_VLAN} to ${MAX_VLAN} sent untagged on the uplink (needs uplink)`, modes: ['vlan'] },
  { name: 'vni', allowed: `a VXLAN network identifier from 1 to ${MAX_VNI}`, modes: ['vxlan'] },
  { name: 'key', allowed: `a GRE key from 0 to ${MAX_GRE_KEY}`, modes: ['gre'] },
  { name: 'remote', allowed: `the tunnel endpoint IPs of the other hosts, comma-separated (at most ${MAX_REMOTES}); in cluster mode, without it: every host of the cluster`, modes: ['vxlan', 'gre'] },
  { name: 'host_ip', allowed: 'an address with prefix length for the host on this network, e.g. 10.13.160.254/24', modes: ALL },
  ...DHCP_OPTION_DOCS.map((o) => ({ ...o, modes: ALL })),
];
const BY_NAME = new Map(NETWORK_OPTIONS.map((o) => [o.name, o]));

type Options = Readonly<Record<string, unknown>>;

/**
 * Builds the spec from the generic options map. `defaultBridge` is the
 * daemon's OVSVLAN_BRIDGE; `cluster`: the daemon runs in cluster mode (an
 * overlay without remote= is then a mesh of every host). Throws
 * InvalidOptionError on the first bad option.
 */
export function parseNetworkOptions(generic: Options, defaultBridge: string, cluster = false): NetworkSpec {
  for (const key of Object.keys(generic)) {
    if (!BY_NAME.has(key)) {
      throw new InvalidOptionError(key, `unknown option ${quoted(key)}; ovsvlan network options are: ${[...BY_NAME.keys()].join(', ')}`);
    }
  }
  const mode = (text(generic, 'mode') ?? 'vlan') as Mode;
  if (!ALL.includes(mode)) throw new InvalidOptionError('mode', `invalid mode ${quoted(mode)}: must be ${allowed('mode')}`);
  for (const key of Object.keys(generic)) {
    if (!BY_NAME.get(key)?.modes.includes(mode)) {
      throw new InvalidOptionError(key, `option "${key}" does not apply to mode=${mode}; it is for mode=${BY_NAME.get(key)?.modes.join('|')}`);
    }
  }
  const hostIp = parseHostIp(generic);
  const dhcp = parseDhcpOptions(Object.fromEntries(DHCP_OPTION_DOCS.map((o) => [o.name, text(generic, o.name)])), hostIp);
  const common: CommonSpec = { mtu: parseMtu(generic), hostIp, ...(dhcp ? { dhcp } : {}) };
  return mode === 'vlan' ? { mode, ...common, ...parseVlan(generic, defaultBridge) } : { mode, ...common, ...parseOverlay(generic, mode, cluster) };
}

function parseVlan(generic: Options, defaultBridge: string): Omit<VlanSpec, keyof CommonSpec | 'mode'> {
  const vlanRaw = text(generic, 'vlan');
  if (vlanRaw === undefined) {
    throw new InvalidOptionError('vlan', `option "vlan" is required: ${allowed('vlan')}, e.g. --opt vlan=860 (or --opt mode=vxlan|gre for an overlay)`);
  }
  const bridge = text(generic, 'bridge') ?? defaultBridge;
  if (!isValidBridgeName(bridge) || hasReservedPrefix(bridge) || OVS_DATAPATH_DEVICES.includes(bridge)) {
    throw new InvalidOptionError('bridge', `invalid bridge ${quoted(bridge)}: must be ${allowed('bridge')}, and not a name ovsvlan makes for itself (ovb/ovt/ovi/ovh/ovc + 12 hex) nor ${OVS_DATAPATH_DEVICES.join(' or ')} (Open vSwitch's own datapath devices)`);
  }
  const uplink = text(generic, 'uplink');
  if (uplink !== undefined && (!isValidBridgeName(uplink) || hasReservedPrefix(uplink) || OVS_DATAPATH_DEVICES.includes(uplink) || uplink === 'lo' || uplink === bridge)) {
    throw new InvalidOptionError('uplink', `invalid uplink ${quoted(uplink)}: must be ${allowed('uplink')}; not lo, the bridge itself, ${OVS_DATAPATH_DEVICES.join(', ')} or a name ovsvlan makes for itself (ovb/ovt/ovi/ovh/ovc + 12 hex)`);
  }
  const nativeRaw = text(generic, 'native_vlan');
  if (nativeRaw !== undefined && uplink === undefined) throw new InvalidOptionError('native_vlan', 'option "native_vlan" needs option "uplink"');
  return {
    vlan: integer('vlan', vlanRaw, MIN_VLAN, MAX_VLAN),
    bridge,
    uplink,
    nativeVlan: nativeRaw === undefined ? undefined : integer('native_vlan', nativeRaw, MIN_VLAN, MAX_VLAN),
  };
}

function parseOverlay(generic: Options, mode: 'vxlan' | 'gre', cluster: boolean): Omit<OverlaySpec, keyof CommonSpec | 'mode'> {
  const keyName = mode === 'vxlan' ? 'vni' : 'key';
  const keyRaw = text(generic, keyName);
  if (keyRaw === undefined) throw new InvalidOptionError(keyName, `mode=${mode} needs option "${keyName}": ${allowed(keyName)}`);
  const key = integer(keyName, keyRaw, mode === 'vxlan' ? 1 : 0, mode === 'vxlan' ? MAX_VNI : MAX_GRE_KEY);
  const remoteRaw = text(generic, 'remote');
  if ((remoteRaw === undefined || remoteRaw === '') && cluster) return { key, remotes: [], mesh: true };
  if (remoteRaw === undefined || remoteRaw === '') {
    throw new InvalidOptionError('remote', `mode=${mode} needs option "remote": the tunnel endpoint IPs of the other hosts, comma-separated; `
      + 'or run the daemon in cluster mode (OVSVLAN_ETCD) for a mesh of every host of the cluster');
  }
  const given = remoteRaw.split(',');
  if (given.length > MAX_REMOTES) throw new InvalidOptionError('remote', `option "remote" lists ${given.length} addresses; at most ${MAX_REMOTES}`);
  // canonical text, so that 2001:DB8::1 and 2001:db8:0::1 are one remote
  const remotes = given.map((r) => {
    const a = parseAddress(r);
    if (!a) throw new InvalidOptionError('remote', `invalid remote ${quoted(r)}: must be ${allowed('remote')}, with no spaces`);
    const canonical = format(a.family, a.value);
    if (!isHostAddress(a.family, a.value)) {
      throw new InvalidOptionError('remote', `invalid remote ${quoted(canonical)}: must be another host's unicast address, not an unspecified, loopback, multicast or broadcast one`);
    }
    return canonical;
  });
  const twice = remotes.find((r, i) => remotes.indexOf(r) !== i);
  if (twice !== undefined) throw new InvalidOptionError('remote', `option "remote" lists an address twice: ${twice}`);
  return { key, remotes, mesh: false };
}

function parseMtu(generic: Options): number | undefined {
  const own = text(generic, 'mtu');
  const docker = text(generic, DOCKER_MTU_OPTION);
  const mtu = own === undefined ? undefined : integer('mtu', own, MIN_MTU, MAX_MTU);
  const dockerMtu = docker === undefined ? undefined : integer(DOCKER_MTU_OPTION, docker, MIN_MTU, MAX_MTU);
  if (mtu !== undefined && dockerMtu !== undefined && mtu !== dockerMtu) {
    throw new InvalidOptionError('mtu', `options "mtu" (${mtu}) and "${DOCKER_MTU_OPTION}" (${dockerMtu}) disagree; give one of them`);
  }
  return mtu ?? dockerMtu;
}

function parseHostIp(generic: Options): string | undefined {
  const raw = text(generic, 'host_ip');
  if (raw === undefined) return undefined;
  const a = parseInterfaceAddress(raw);
  if (!a || a.bits < 1) throw new InvalidOptionError('host_ip', `invalid host_ip ${quoted(raw)}: must be ${allowed('host_ip')}`);
  return raw;
}

/** The value of an option, as given; a JSON number or anything but a string is refused, not converted. */
function text(generic: Options, key: string): string | undefined {
  const v = generic[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  throw new InvalidOptionError(key, `option "${key}" must be a string (Docker sends -o values as strings), not the ${typeof v} ${quoted(String(v))}: ${allowed(key)}`);
}

/** Plain decimal: digits only, no leading zero (10 digits are enough for every bound here). */
const DECIMAL = /^(0|[1-9][0-9]{0,9})$/;

function integer(option: string, raw: string, min: number, max: number): number {
  if (!DECIMAL.test(raw)) {
    throw new InvalidOptionError(option, `invalid ${option} ${quoted(raw)}: must be ${allowed(option)}, in plain decimal (no sign, spaces, exponent or leading zeros)`);
  }
  const n = Number(raw);
  if (n < min || n > max) throw new InvalidOptionError(option, `invalid ${option} ${quoted(raw)}: must be ${allowed(option)}`);
  return n;
}

function allowed(option: string): string {
  return BY_NAME.get(option)?.allowed ?? 'a valid value';
}

/** An address a tunnel can reach another host at: not unspecified, loopback, multicast or IPv4 broadcast. */
function isHostAddress(family: 4 | 6, value: bigint): boolean {
  if (family === 4) {
    const first = Number(value >> 24n);
    return value !== 0n && first !== 127 && (first < 224 || first > 239) && value !== 0xffffffffn;
  }
  return value !== 0n && value !== 1n && value >> 120n !== 0xffn;
}
