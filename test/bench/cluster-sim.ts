// `npm run bench:cluster` (root): issue 11's 200-host simulation. One real ovsvlan host in cluster
// mode (netns, OVS, dockerd, etcd in the hub netns) with a VXLAN mesh network, 199 simulated hosts
// registering liveness records the daemon's way (4 light processes, test/bench/cluster-sim-hosts.ts),
// and the real host's tunnel ports polled in OVSDB: the time from the last registration to 199
// ports with the right remote_ip, and from 100 revoked leases to 99 (mesh grace 0: from the revokes).
// Prints each figure against its target (< 5 s), etcd's key count and size, the watch events one
// host receives, and what ovs-vswitchd, ovsdb-server and ovsvlan used; docs/cluster.md's scale plan
// is written from these. Exits 0 when a target is missed (a benchmark, not a test); 1 when it could
// not measure. SIM_HOSTS, SIM_LEAVING, SIM_PROCESSES, SIM_POLL_MS change the scale.
import { runScaleScenario, type ProcessUse, type ScaleFigures } from '../helpers/cluster-scale.js';
import { RUN_PREFIX } from '../helpers/run.js';
import { knob } from './knob.js';

const say = (line: string): void => console.log(line);
const TARGET_MS = 5_000;

const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
const use = (u: { before: ProcessUse; joined: ProcessUse }): string =>
  `RSS ${mb(u.before.rssKb)} -> ${mb(u.joined.rssKb)}, CPU ${u.joined.cpuMs - u.before.cpuMs} ms during the join`;

function report(f: ScaleFigures): void {
  const verdict = (ms: number): string => (ms < TARGET_MS ? 'met' : 'MISSED');
  say('');
  say(`cluster of ${f.hosts} hosts (${f.hosts - 1} simulated + 1 real), run ${RUN_PREFIX}`);
  say(`  join:  ${f.join.ports} tunnel ports in ${f.join.ms} ms after the last registration (target < ${TARGET_MS} ms: ${verdict(f.join.ms)})`);
  const afterRevoke = f.leave.ms > 0 ? `in ${f.leave.ms} ms after the last revoke` : 'before the last revoke was answered (a loaded machine)';
  say(`  leave: ${f.leave.ports} tunnel ports ${afterRevoke}, ${f.leave.sinceStartMs} ms after the leave command, revokes included `
    + `(target < ${TARGET_MS} ms: ${verdict(Math.max(f.leave.ms, 0))})`);
  if (f.rejoin) {
    say(`  rejoin: ${f.rejoin.ports} tunnel ports in ${f.rejoin.ms} ms after the last of ${f.join.ports - f.leave.ports} hosts registered again in one burst `
      + `(${f.rejoin.registerMs} ms) (target < ${TARGET_MS} ms: ${verdict(f.rejoin.ms)})`);
  }
  say(`  registrations: ${f.registerMs} ms for ${f.hosts - 1} hosts, ${f.registerRetries} retried`);
  say(`  etcd: ${f.etcdKeys.joined} keys after the join, ${f.etcdKeys.left} after the leave; database ${(f.etcdDbBytes / 1024 / 1024).toFixed(1)} MB`);
  say(`  one host's watch: join ${f.watch.join.puts} puts / ${f.watch.join.deletes} deletes in ${f.watch.join.responses} responses; `
    + `leave ${f.watch.leave.puts} puts / ${f.watch.leave.deletes} deletes in ${f.watch.leave.responses} responses`);
  say(`  ovs-vswitchd: ${use(f.use.vswitchd)}`);
  say(`  ovsdb-server: ${use(f.use.ovsdb)}; conf.db ${(f.confDbBytes / 1024).toFixed(0)} KB`);
  say(`  ovsvlan:      ${use(f.use.ovsvlan)}`);
  say(`figures: ${JSON.stringify(f)}`);
}

async function main(): Promise<number> {
  const teardowns: Array<() => unknown> = [];
  let stopping = false;
  const cleanUp = async (): Promise<void> => {
    for (const fn of teardowns.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error(`cleanup: ${String(err)}`);
      }
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    const simulated = knob('SIM_HOSTS', 199);
    const figures = await runScaleScenario({ teardown: (fn) => teardowns.push(fn) }, {
      simulated, leaving: knob('SIM_LEAVING', Math.ceil(simulated / 2)), processes: knob('SIM_PROCESSES', 4), pollMs: knob('SIM_POLL_MS', 75),
      ceilingMs: 120_000, rejoin: true,
    }, say);
    report(figures);
    return 0;
  } catch (err) {
    console.error(`bench:cluster could not measure: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await cleanUp();
  }
}

process.exit(await main());
