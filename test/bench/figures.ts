// The benchmark's figures as rows: what, measured, target, met or MISSED, and for a miss the
// measured floor that blocks it. Targets are issue 10's (2 cores, userspace datapath).
import type { DockerResult } from './docker.js';
import { DAEMON_CREATE, FSYNC_PROBE, type OvsvlanResult } from './ovsvlan.js';
import { median, ms, percentile } from './stats.js';
import type { Series, Window } from './types.js';

export interface Row {
  what: string;
  measured: string;
  /** Empty for a figure shown for comparison only. */
  target: string;
  met?: boolean;
  floor?: string;
}

export interface Results {
  ovsvlan: OvsvlanResult;
  ovsDocker: Series;
  docker: DockerResult;
}

const p50 = (xs: readonly number[]): number => percentile(xs, 0.5);
const p99 = (xs: readonly number[]): number => percentile(xs, 0.99);
const pair = (xs: readonly number[]): string => `p50 ${ms(p50(xs))}, p99 ${ms(p99(xs))}`;
const part = (w: Window | undefined, name: string): number[] => w?.parts[name] ?? [];

/** Every row of the table, targets first within each group. */
export function figures(r: Results): Row[] {
  const rows: Row[] = [];
  const ov = r.ovsvlan.series;
  const top = ov.windows[ov.windows.length - 1];
  const low = ov.windows[0];
  // what blocks a miss, as measured: what ovsvlan's own path waits on. Every change waits on the
  // journal's fdatasync before it answers (probe on the state dir's filesystem); a CreateEndpoint
  // that found the network's pool empty also waits for ovs-vswitchd (the daemon logs which).
  const sync = (w: Window | undefined): string => `journal fdatasync p50 ${ms(p50(part(w, FSYNC_PROBE)))}, p99 ${ms(p99(part(w, FSYNC_PROBE)))} (probe on the state dir's filesystem)`;
  const emptyPool = (ports: number): string => {
    const c = r.ovsvlan.creates.find((x) => x.ports === ports);
    return c ? `${c.poolEmpty} of ${c.samples} found the pool empty` : 'pool use not logged';
  };
  const attachFloor = (w: Window): string => {
    const c = r.ovsvlan.creates.find((x) => x.ports === w.ports);
    return `CreateEndpoint waits on the ${sync(w)}; CreateEndpoint in the daemon ${pair(part(w, DAEMON_CREATE))} (its log); `
      + `${c ? `${c.over20} of ${c.samples} samples took > 20 ms there, ` : ''}${emptyPool(w.ports)} (made a pair, waited for ovs-vswitchd)`;
  };

  for (const w of ov.windows) {
    const cj = part(w, 'CreateEndpoint+Join');
    const isTop = w === top;
    rows.push({ what: `ovsvlan CreateEndpoint+Join, ${w.ports} ports`, measured: pair(cj),
      target: isTop ? 'p50 ≤ 5 ms, p99 ≤ 20 ms' : '', ...(isTop ? { met: p50(cj) <= 5 && p99(cj) <= 20 } : {}),
      ...(isTop && !(p50(cj) <= 5 && p99(cj) <= 20) ? { floor: attachFloor(w) } : {}) });
  }
  if (top && low && top !== low) {
    const g = p50(part(top, 'CreateEndpoint+Join')) / p50(part(low, 'CreateEndpoint+Join'));
    rows.push({ what: `ovsvlan CreateEndpoint+Join p50 growth, ${low.ports} → ${top.ports} ports`, measured: `× ${g.toFixed(2)}`,
      target: '≤ × 1.5', met: g <= 1.5,
      ...(g > 1.5 ? { floor: `CreateEndpoint in the daemon p50 ${ms(p50(part(low, DAEMON_CREATE)))} → ${ms(p50(part(top, DAEMON_CREATE)))} (its log); `
        + `journal fdatasync p50 ${ms(p50(part(low, FSYNC_PROBE)))} → ${ms(p50(part(top, FSYNC_PROBE)))} (probe); `
        + `at ${low.ports} ports ${emptyPool(low.ports)}, at ${top.ports} ${emptyPool(top.ports)}` } : {}) });
  }
  for (const w of ov.windows) {
    const ld = part(w, 'Leave+DeleteEndpoint');
    rows.push({ what: `ovsvlan Leave+DeleteEndpoint, ${w.ports} ports`, measured: pair(ld), target: 'p50 ≤ 5 ms', met: p50(ld) <= 5,
      ...(p50(ld) > 5 ? { floor: `DeleteEndpoint waits on the ${sync(w)}; port and veth go after the answer` } : {}) });
  }
  for (const w of ov.windows) {
    rows.push({ what: `ovsvlan attach (RequestAddress+CreateEndpoint+Join), ${w.ports} ports`, measured: pair(w.attach), target: '' });
    rows.push({ what: `ovsvlan detach (Leave+DeleteEndpoint+ReleaseAddress), ${w.ports} ports`, measured: pair(w.detach), target: '' });
  }
  for (const s of [r.ovsDocker, r.docker.bridge]) {
    for (const w of s.windows) {
      rows.push({ what: `${s.label} attach, ${w.ports} ports`, measured: pair(w.attach), target: '' });
      rows.push({ what: `${s.label} detach, ${w.ports} ports`, measured: pair(w.detach), target: '' });
    }
  }
  const c = r.docker.ovsvlanConnect;
  rows.push({ what: `ovsvlan network connect via dockerd's API, ${c.ports} ports`, measured: pair(c.attach), target: '' });
  rows.push({ what: `ovsvlan network disconnect via dockerd's API, ${c.ports} ports`, measured: pair(c.detach), target: '' });

  const runs = r.docker.runs;
  const [none, bridge, ovsvlan] = [median(runs.none), median(runs.bridge), median(runs.ovsvlan)];
  rows.push({ what: `docker run --rm busybox true, median of ${runs.none.length}: none / bridge / ovsvlan`,
    measured: `${ms(none)} / ${ms(bridge)} / ${ms(ovsvlan)}`, target: '' });
  const ratio = ovsvlan / bridge;
  rows.push({ what: 'docker run --rm median ratio ovsvlan / bridge', measured: ratio.toFixed(2), target: '≤ 1.00', met: ratio <= 1,
    ...(ratio > 1 ? { floor: `over --net=none: ovsvlan +${ms(ovsvlan - none)}, bridge +${ms(bridge - none)}` } : {}) });
  if (r.docker.runFailures > 0) rows.push({ what: 'docker run --rm that failed', measured: String(r.docker.runFailures), target: '0', met: false });

  const k = r.docker.concurrent;
  rows.push({ what: `${k.containers} concurrent docker run -d (ovsvlan IPAM): failures`, measured: String(k.failures), target: '0', met: k.failures === 0,
    ...(k.firstError ? { floor: `first error: ${k.firstError}` } : {}) });
  rows.push({ what: `${k.containers} concurrent docker run -d: distinct addresses`, measured: String(k.distinct), target: String(k.containers), met: k.distinct === k.containers });
  rows.push({ what: `${k.containers} concurrent docker run -d: wall time`, measured: ms(k.wallMs), target: '' });

  const o = r.ovsvlan;
  const startMet = o.startMs <= 2000;
  const startFloor = [o.startFailure ? `reconciliation failed: ${o.startFailure.slice(0, 200)}` : '', `with no endpoints: ${ms(o.startEmptyMs)}`, `node -e 0 alone: ${ms(o.nodeStartMs)}`].filter(Boolean).join('; ');
  rows.push({ what: `daemon start + first reconciliation, ${o.endpoints} endpoints`,
    measured: `${Number.isNaN(o.startMs) ? 'none within 60 s' : ms(o.startMs)} (socket ${ms(o.socketMs)})`,
    target: '≤ 2 s', met: startMet, ...(startMet ? {} : { floor: startFloor }) });
  rows.push({ what: `daemon RSS, ${o.endpoints} endpoints`, measured: `${o.rssMb.toFixed(0)} MB`, target: '≤ 100 MB', met: o.rssMb <= 100,
    ...(o.rssMb > 100 ? { floor: `with no endpoints: ${o.rssEmptyMb.toFixed(0)} MB` } : {}) });
  rows.push({ what: 'ovsvlan error lines logged during its phase', measured: String(o.errors.count), target: '',
    ...(o.errors.first ? { floor: `first: ${o.errors.first}` } : {}) });
  return rows;
}

/** `met` as the table prints it. */
export const verdict = (row: Row): string => (row.met === undefined ? '' : row.met ? 'met' : 'MISSED');
