// What the benchmark prints and what it writes to docs/benchmarks.md (+ the plot).
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import type { Host } from '../helpers/host.js';
import { REPO_ROOT } from '../helpers/plugin.js';
import { run } from '../helpers/run.js';
import { verdict, type Results, type Row } from './figures.js';
import { percentile, ms } from './stats.js';
import { attachPlot } from './svg.js';
import type { Scale, Series } from './types.js';

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  ovs: string;
  docker: string;
  node: string;
  date: string;
}

/** The machine the run is on, and the versions of what it measures; read once after the host is up. */
export async function machine(host: Host): Promise<Machine> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const ovs = (await run('ovs-vswitchd', ['--version'])).stdout.split('\n')[0] ?? '?';
  const docker = (await host.docker(['version', '--format', '{{.Server.Version}}'])).stdout || '?';
  return {
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? '?',
    cores: cpus().length, kernel: release(), ovs: ovs.replace(/^ovs-vswitchd \(Open vSwitch\) /, ''), docker: `${docker} (private dockerd)`,
    node: process.version, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

/** Prints the rows as a fixed-width table, MISSED rows marked, then the floors of the misses. */
export function printTable(rows: readonly Row[], say: (line: string) => void): void {
  const w = [Math.max(...rows.map((r) => r.what.length)), Math.max(...rows.map((r) => r.measured.length)), Math.max(8, ...rows.map((r) => r.target.length))];
  say(`${'figure'.padEnd(w[0]!)}  ${'measured'.padEnd(w[1]!)}  ${'target'.padEnd(w[2]!)}  result`);
  say('-'.repeat(w[0]! + w[1]! + w[2]! + 14));
  for (const r of rows) say(`${r.what.padEnd(w[0]!)}  ${r.measured.padEnd(w[1]!)}  ${r.target.padEnd(w[2]!)}  ${verdict(r)}`);
  const missed = rows.filter((r) => r.met === false);
  say('');
  say(missed.length === 0 ? 'Every target met.' : `MISSED ${missed.length} of ${rows.filter((r) => r.met !== undefined).length} targets:`);
  for (const r of missed) say(`  MISSED ${r.what}: ${r.measured} (target ${r.target})${r.floor ? `; floor: ${r.floor}` : ''}`);
  for (const r of rows.filter((x) => x.met === undefined && x.floor)) say(`  note, ${r.what}: ${r.floor}`);
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function seriesTable(all: readonly Series[]): string[] {
  const lines = ['| series | ports | attach p50 | attach p99 | detach p50 | detach p99 | samples |', '|---|---:|---:|---:|---:|---:|---:|'];
  for (const s of all) {
    for (const w of s.windows) {
      lines.push(`| ${s.label} | ${w.ports} | ${ms(percentile(w.attach, 0.5))} | ${ms(percentile(w.attach, 0.99))} | ${ms(percentile(w.detach, 0.5))} | ${ms(percentile(w.detach, 0.99))} | ${w.attach.length} |`);
    }
  }
  lines.push('', '| series | ports | step | p50 | p99 |', '|---|---:|---|---:|---:|');
  for (const s of all) {
    for (const w of s.windows) {
      for (const [name, xs] of Object.entries(w.parts)) lines.push(`| ${s.label} | ${w.ports} | ${cell(name)} | ${ms(percentile(xs, 0.5))} | ${ms(percentile(xs, 0.99))} |`);
    }
  }
  return lines;
}

/** Writes docs/benchmarks.md and docs/benchmarks-attach.svg from this run. */
export async function writeDocs(m: Machine, scale: Scale, settings: Record<string, string>, rows: readonly Row[], r: Results, wallS: number): Promise<string> {
  const all = [r.ovsvlan.series, r.ovsDocker, r.docker.bridge];
  const scaled = scale.levels[scale.levels.length - 1] !== 1000 ? ` (scaled down: BENCH_PORTS=${scale.levels[scale.levels.length - 1]}; the targets are for 1,000 ports)` : '';
  const text = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` on ${m.date}${scaled}; the run took ${Math.round(wallS)} s. Do not edit: run it again.`,
    '',
    '## Run it',
    '',
    '```',
    'sudo npm run bench                 # full run: 10, 100 and 1,000 ports; well under 15 minutes',
    'sudo BENCH_PORTS=100 npm run bench # small: 10 and 100 ports',
    '```',
    '',
    'As root, with Open vSwitch, Docker, busybox-static and iproute2 installed (what `npm test` needs). It builds a',
    'simulated host as the tests do (a netns with a private OVS, userspace datapath, and a private dockerd with',
    '`--bridge=none --iptables=false`), measures, prints the table and writes this page. Everything is named with',
    'the run prefix and removed at the end, also on failure or Ctrl-C. Other knobs: `BENCH_WINDOW` (samples per',
    'level, 30), `BENCH_RUNS` (`docker run --rm` per network, 15), `BENCH_CONCURRENT` (100); `OVSVLAN_*` settings',
    'in the environment reach the daemon. It exits 0 when a target is missed: it is a benchmark, not a test.',
    '',
    '## Machine',
    '',
    '| | |', '|---|---|',
    `| CPU | ${cell(m.cpu)} |`, `| cores | ${m.cores} |`, `| kernel | ${m.kernel} |`, `| Open vSwitch | ${m.ovs} (userspace datapath) |`,
    `| Docker | ${m.docker} |`, `| Node | ${m.node} |`,
    ...(Object.keys(settings).length ? [`| settings | ${Object.entries(settings).map(([k, v]) => `\`${k}=${v}\``).join(', ')} |`] : []),
    '',
    '## Figures and targets',
    '',
    '| figure | measured | target | result | floor of a miss, or a note |', '|---|---|---|---|---|',
    ...rows.map((row) => `| ${cell(row.what)} | ${cell(row.measured)} | ${cell(row.target)} | ${verdict(row) === 'MISSED' ? '**MISSED**' : verdict(row)} | ${cell(row.floor ?? '')} |`),
    '',
    '## Attach against ports on the bridge',
    '',
    '![attach p50 against ports on the bridge](benchmarks-attach.svg)',
    '',
    'What one attach and one detach are in each series (each sample is one attach followed by the detach of',
    'the same interface, so the bridge holds the stated number of ports, plus one, throughout):',
    '',
    ...all.map((s) => `- **${s.label}**: attach = ${s.attachIs}; detach = ${s.detachIs}.`),
    '- The ovsvlan bridge is filled with endpoints of the daemon itself (same calls, four at a time, container ends',
    '  moved into a netns as dockerd does), kept attached; the ovs-docker bridge with veth ports made the same way',
    '  in bulk (tagged, with external_ids); Docker\'s Linux bridge with veth ports (Docker\'s driver has no per-port',
    '  cost in OVS: its figures include dockerd\'s whole connect path, which the others lack; compare them with',
    "  ovsvlan's own connect through the same API in the table).",
    '',
    ...seriesTable(all),
    '',
  ].join('\n');
  await writeFile(`${REPO_ROOT}docs/benchmarks.md`, text);
  await writeFile(`${REPO_ROOT}docs/benchmarks-attach.svg`, attachPlot(all, `attach p50 against ports on the bridge (${m.cores} cores, userspace datapath)`));
  return `${REPO_ROOT}docs/benchmarks.md`;
}
