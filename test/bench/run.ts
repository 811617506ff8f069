// `npm run bench` (root): ovsvlan against its anchors on one simulated host (a netns with a
// private OVS, userspace datapath, and a private dockerd), side by side:
//  - attach/detach latency at 10, 100 and 1,000 ports on the bridge: ovsvlan over its socket,
//    the ovs-docker command sequence, Docker's bridge driver (ovsvlan.ts, ovs-docker.ts, docker.ts);
//  - `docker run --rm` medians for none, bridge and ovsvlan; 100 concurrent `docker run -d`;
//  - the daemon's start plus first reconciliation with 1,000 endpoints, and its RSS.
// Prints a table (each figure, its target, met or MISSED) and writes docs/benchmarks.md with a plot.
// Exits 0 when a target is missed (a benchmark, not a test); 1 only when it could not measure.
// BENCH_PORTS=100 runs small; BENCH_WINDOW, BENCH_RUNS, BENCH_CONCURRENT as in docs/benchmarks.md.
import { readdir, readFile, rm } from 'node:fs/promises';
import { createHost, type Host } from '../helpers/host.js';
import { RUN_DIR, RUN_PREFIX, stopPid } from '../helpers/run.js';
import { benchDocker } from './docker.js';
import { figures } from './figures.js';
import { knob } from './knob.js';
import { benchOvsDocker } from './ovs-docker.js';
import { benchOvsvlan } from './ovsvlan.js';
import { machine, printTable, writeDocs } from './report.js';
import type { Scale } from './types.js';

const say = (line: string): void => console.log(line);

function scaleFromEnv(): Scale {
  const ports = knob('BENCH_PORTS', 1000);
  const levels = [10, 100, 1000].filter((l) => l <= ports);
  if (!levels.includes(ports) && ports > 10) levels.push(ports);
  return { levels: levels.length ? levels : [ports], window: knob('BENCH_WINDOW', 30), runs: knob('BENCH_RUNS', 15),
    concurrent: knob('BENCH_CONCURRENT', 100) };
}

/** The OVSVLAN_* settings of this environment, which reach every daemon the bench starts. */
const daemonSettings = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('OVSVLAN_') && e[1] !== undefined
    && !e[0].startsWith('OVSVLAN_TEST_')));

let host: Host | undefined;

/** Everything of this run: daemons started outside the host (by their PID files), the host, the bench's files. */
async function cleanUp(): Promise<void> {
  for (const f of await readdir(RUN_DIR).catch(() => [] as string[])) {
    if (!/^ovsvlan-\d+\.pid$/.test(f)) continue;
    await stopPid(Number((await readFile(`${RUN_DIR}/${f}`, 'utf8')).trim()) || undefined);
    await rm(`${RUN_DIR}/${f}`, { force: true });
  }
  await host?.destroy();
  for (const f of await readdir(RUN_DIR).catch(() => [] as string[])) {
    if (f.startsWith('bench-')) await rm(`${RUN_DIR}/${f}`, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const scale = scaleFromEnv();
  const t0 = Date.now();
  say(`ovsvlan bench, run ${RUN_PREFIX}: ports ${scale.levels.join('/')}, ${scale.window} samples a level, ${scale.runs} docker runs a network, ${scale.concurrent} concurrent`);
  host = await createHost('bench');
  const m = await machine(host);
  say(`${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, OVS ${m.ovs}, Docker ${m.docker}, Node ${m.node}`);
  const ovsDocker = await benchOvsDocker(host, scale, say);
  const ovsvlan = await benchOvsvlan(host, scale, say);
  const docker = await benchDocker(host, scale, say);
  const results = { ovsvlan, ovsDocker, docker };
  const rows = figures(results);
  say('');
  printTable(rows, say);
  const file = await writeDocs(m, scale, daemonSettings(), rows, results, (Date.now() - t0) / 1000);
  say(`\nwritten: ${file} and docs/benchmarks-attach.svg (${Math.round((Date.now() - t0) / 1000)} s)`);
  return 0;
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: cleaning up run ${RUN_PREFIX}`);
    void cleanUp().finally(() => process.exit(130));
  });
}

main().then(async (code) => {
  await cleanUp();
  process.exit(code);
}, async (err: unknown) => {
  console.error(err);
  await cleanUp().catch((e: unknown) => console.error(e));
  process.exit(1);
});
