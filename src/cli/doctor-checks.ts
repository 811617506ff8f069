// `ovsvlan doctor`'s decisions (pure), for OVS, the daemon and Docker: each
// takes what was read and returns a verdict line, with the command that fixes
// a WARN or FAIL. The checks of each network's host settings are in
// doctor-network.ts, the reads in doctor-probe.ts, the order in doctor.ts.
import type { DatapathSetting } from '../vswitch/datapath.js';
import { shortId } from '../names.js';
import type { NetworkRecord } from '../store/records.js';
import type { Inventory } from '../vswitch/inventory.js';
import type { Read } from './facts.js';

export type Verdict = 'PASS' | 'WARN' | 'FAIL';

export interface Check {
  verdict: Verdict;
  /** short and stable: what to grep for */
  name: string;
  /** what was found */
  detail: string;
  /** for WARN and FAIL: the command (or step) that fixes it */
  fix?: string;
}

const check = (verdict: Verdict, name: string, detail: string, fix?: string): Check => ({ verdict, name, detail, ...(fix ? { fix } : {}) });
export const pass = (name: string, detail: string): Check => check('PASS', name, detail);
export const warn = (name: string, detail: string, fix: string): Check => check('WARN', name, detail, fix);
export const fail = (name: string, detail: string, fix: string): Check => check('FAIL', name, detail, fix);

/** `FAIL  uplink-mtu       eth1 mtu 1400 …; fix: ip link set dev eth1 mtu 1500` */
export function formatCheck(c: Check): string {
  return `${c.verdict}  ${c.name.padEnd(16)} ${c.detail}${c.fix ? `; fix: ${c.fix}` : ''}`;
}

/** 1 when a check failed; warnings alone leave it at 0. */
export const exitStatus = (checks: readonly Check[]): number => (checks.some((c) => c.verdict === 'FAIL') ? 1 : 0);

export const START_OVS = 'start Open vSwitch: systemctl start openvswitch-switch (or ovsdb-server and ovs-vswitchd by hand)';
export const RECONCILE = 'systemctl reload ovsvlan (or kill -HUP the daemon): reconciliation repairs what ovsvlan made';
export const netName = (n: NetworkRecord): string =>
  `network ${shortId(n.id)} (${n.mode === 'vlan' ? `vlan ${n.vlan}` : `${n.mode} ${n.mode === 'vxlan' ? 'vni' : 'key'} ${n.key}`})`;

/**
 * OVSDB answers, and the version of Open vSwitch: `ovs_version` in the
 * database (ovs-ctl writes it), else what the running ovs-vswitchd says
 * (`binaryVersion`: OVS started without ovs-ctl records none).
 */
export function ovsdbCheck(endpoint: string, ovs: Read<Inventory>, binaryVersion?: string): Check {
  if (!ovs.ok) return fail('ovsdb', `cannot read ${ovs.error}`, `${START_OVS}, or give its socket with --ovsdb`);
  const version = ovs.value.ovsVersion ? `Open vSwitch ${ovs.value.ovsVersion}`
    : binaryVersion ? `Open vSwitch ${binaryVersion} (asked ovs-vswitchd; no ovs_version in the database)`
      : 'Open vSwitch (ovs_version not recorded in the database)';
  return pass('ovsdb', `${version} at ${endpoint}`);
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The records in the state directory: how many, or why they cannot be read; a directory not there yet says so. */
export function stateCheck(dir: string, exists: boolean, records: Read<{ networks: number; endpoints: number }>): Check {
  if (!records.ok) {
    return fail('state', `cannot read the records in ${dir}: ${records.error}; the checks of networks are skipped`,
      'journalctl -u ovsvlan tells what the daemon made of them');
  }
  if (!exists) return pass('state', `no records: ${dir} does not exist (no network made yet, or the daemon has another --state-dir)`);
  return pass('state', `${count(records.value.networks, 'network')}, ${count(records.value.endpoints, 'endpoint')} recorded in ${dir}`);
}

/** What the pidfile next to the database socket says about ovs-vswitchd. */
export interface VswitchdProcess {
  pidfile: string;
  /** the pid the file names; undefined without a readable pidfile */
  pid: number | undefined;
  /** that pid is a live ovs-vswitchd */
  running: boolean;
  /** some ovs-vswitchd runs on this host (another pidfile, another OVS instance) */
  anyOnHost: boolean;
}

/**
 * ovs-vswitchd does the switching; OVSDB alone only stores the wish. Its
 * pidfile says whether it runs; cur_cfg below next_cfg says it has not
 * applied the database's last change, and empty datapath_types that it never ran.
 */
export function vswitchdCheck(p: VswitchdProcess, ovs: Inventory | undefined): Check {
  const name = 'ovs-vswitchd';
  const start = 'start ovs-vswitchd: systemctl start openvswitch-switch';
  const behind = ovs?.curCfg !== undefined && ovs.nextCfg !== undefined && ovs.curCfg < ovs.nextCfg;
  const known = ovs?.curCfg !== undefined;
  const cfg = known ? `cur_cfg ${ovs.curCfg}, next_cfg ${ovs.nextCfg}` : 'cur_cfg unknown';
  if (p.running) {
    if (behind) return warn(name, `running (pid ${p.pid}) but behind the database (${cfg})`, `see ovs-vswitchd.log next to ${p.pidfile}; restart it if it stays behind`);
    return pass(name, known ? `running (pid ${p.pid}), every change applied (${cfg})` : `running (pid ${p.pid}); OVSDB unread, so whether it applied every change is unknown`);
  }
  if (p.pid !== undefined) return fail(name, `not running: ${p.pidfile} names pid ${p.pid}, which is not ovs-vswitchd`, start);
  if (behind || ovs?.datapathTypes.length === 0) {
    return fail(name, `no pidfile at ${p.pidfile}, and the database says it is not running (${behind ? cfg : 'datapath_types empty'})`, start);
  }
  if (!p.anyOnHost) return fail(name, `not running: no pidfile at ${p.pidfile} and no ovs-vswitchd process on this host: nothing switches`, start);
  return warn(name, `no pidfile at ${p.pidfile}: cannot tell whether it runs (${cfg})`, 'check with: pidof ovs-vswitchd');
}

/** Interfaces OVS could not open (a veth gone, a NIC renamed): their traffic goes nowhere. */
export function portErrorsCheck(ovs: Inventory): Check {
  const bad = [...ovs.ports.values()].filter((p) => p.error !== undefined);
  if (bad.length === 0) return pass('ovs-ports', `${ovs.ports.size} ports, every interface open`);
  const listed = bad.slice(0, 3).map((p) => `${p.name} (${p.error})`).join(', ');
  return warn('ovs-ports', `${bad.length} interfaces OVS cannot open: ${listed}${bad.length > 3 ? ', …' : ''}`,
    `ovsvlan status tells which are ovsvlan's and ${RECONCILE}; remove any other with ovs-vsctl del-port NAME`);
}

/** The datapath new bridges get, against what the kernel and ovs-vswitchd offer, and the bridges the networks use. */
export function datapathCheck(setting: DatapathSetting, moduleLoaded: boolean, ovs: Inventory | undefined, bridges: ReadonlySet<string>): Check {
  const name = 'datapath';
  if (setting === 'system' && !moduleLoaded) {
    return fail(name, 'OVSVLAN_DATAPATH=system, but the openvswitch kernel module is not loaded', 'modprobe openvswitch, or --datapath netdev (userspace)');
  }
  const chosen = setting === 'auto' ? (moduleLoaded ? 'system' : 'netdev') : setting;
  const offered = ovs?.datapathTypes ?? [];
  if (offered.length > 0 && !offered.includes(chosen)) {
    return fail(name, `new bridges would use ${chosen}, which ovs-vswitchd does not offer (it offers ${offered.join(', ')})`,
      `--datapath ${offered.includes('netdev') ? 'netdev' : (offered[0] ?? 'auto')}`);
  }
  const stranded = (ovs?.bridges ?? []).filter((b) => bridges.has(b.name) && b.datapath === 'system' && !moduleLoaded).map((b) => b.name);
  if (stranded.length > 0) {
    return fail(name, `bridge ${stranded.join(', ')} uses the kernel datapath, but the openvswitch module is not loaded`, 'modprobe openvswitch');
  }
  return pass(name, moduleLoaded
    ? `openvswitch kernel module loaded; new bridges use ${chosen} (OVSVLAN_DATAPATH=${setting})`
    : `userspace (netdev): no openvswitch kernel module; new bridges use ${chosen} (OVSVLAN_DATAPATH=${setting})`);
}

export interface SocketStat {
  path: string;
  kind: 'missing' | 'socket' | 'other';
  mode: number;
  uid: number;
}

/** The daemon makes its socket 0660, owned by root: anyone who can write to it can make ovsvlan do anything. */
export function socketCheck(path: string, stat: Read<SocketStat>): Check {
  const name = 'plugin-socket';
  if (!stat.ok) return warn(name, `cannot look at ${path}: ${stat.error}`, 'run ovsvlan doctor as root');
  const s = stat.value;
  if (s.kind === 'missing') return fail(name, `nothing at ${s.path} (nor a managed plugin's socket of that name one directory down): the daemon is not running here`, 'systemctl start ovsvlan (or ovsvlan daemon), or give its socket with --socket');
  if (s.kind === 'other') return fail(name, `${s.path} is not a socket`, `systemctl restart ovsvlan (it replaces ${s.path})`);
  const mode = (s.mode & 0o777).toString(8).padStart(4, '0');
  if (mode !== '0660' || s.uid !== 0) {
    return warn(name, `${s.path}: mode ${mode}, owner uid ${s.uid}; expected 0660 and root (whoever can write to it drives ovsvlan as root)`,
      `chown root ${s.path} && chmod 0660 ${s.path}`);
  }
  return pass(name, `${s.path}: a socket, mode 0660, owner root`);
}

/** The answer to `POST /Plugin.Activate` must name both drivers, as Docker reads it. */
export function activateCheck(path: string, answer: Read<{ status: number; body: string }>): Check {
  const name = 'plugin';
  if (!answer.ok) return fail(name, `no answer on ${path}: ${answer.error}`, 'systemctl restart ovsvlan; journalctl -u ovsvlan says why it stopped');
  let implements_: unknown;
  try {
    implements_ = (JSON.parse(answer.value.body) as { Implements?: unknown }).Implements;
  } catch {
    implements_ = undefined;
  }
  const drivers = Array.isArray(implements_) ? implements_.map(String) : [];
  if (answer.value.status === 200 && drivers.includes('NetworkDriver') && drivers.includes('IpamDriver')) {
    return pass(name, `answers Plugin.Activate on ${path}: ${drivers.join(', ')}`);
  }
  return fail(name, `Plugin.Activate on ${path} answered ${answer.value.status} ${answer.value.body.slice(0, 80)}`,
    `is ${path} ovsvlan's? systemctl restart ovsvlan`);
}

/** Docker 29.0.0 to 29.0.2 crash dockerd with any remote network driver (fixed in 29.0.3). */
export function dockerCrashesRemoteDrivers(version: string): boolean {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return m !== null && Number(m[1]) === 29 && Number(m[2]) === 0 && Number(m[3]) <= 2;
}

export function dockerCheck(endpoint: string, version: Read<string> | undefined): Check {
  const name = 'docker';
  if (!endpoint || !version) return warn(name, 'OVSVLAN_DOCKER is empty: Docker not checked', '--docker unix:///var/run/docker.sock');
  if (!version.ok) return fail(name, `no answer from Docker at ${endpoint}: ${version.error}`, 'systemctl start docker, or give its socket with --docker');
  if (dockerCrashesRemoteDrivers(version.value)) {
    return warn(name, `Docker ${version.value} at ${endpoint}: 29.0.0-29.0.2 crash dockerd with any remote network driver`, 'upgrade Docker to 29.0.3 or later');
  }
  return pass(name, `Docker ${version.value} at ${endpoint}`);
}
