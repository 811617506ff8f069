// The private etcd cluster the cluster-mode tests run on (test/helpers/etcd.ts): three members
// form one cluster, a write through one member is read through another, two members keep
// serving writes while the third is stopped, the third catches up once restarted, and destroy()
// leaves no process and no directory behind.
import t from 'tap';
import { existsSync } from 'node:fs';
import { startEtcdCluster, type EtcdMember } from '../helpers/etcd.js';
import { RUN_PREFIX, pidAlive, waitFor } from '../helpers/run.js';

t.test('a private three-member etcd cluster', async (t) => {
  const etcd = await startEtcdCluster('h', { members: 3, t });
  if (etcd.members.length !== 3) throw new Error(`3 members asked, ${etcd.members.length} started`);
  const [a, b, c] = etcd.endpoints as readonly [string, string, string];
  const third = (etcd.members as readonly [EtcdMember, EtcdMember, EtcdMember])[2];
  const ctl = async (args: string[], eps?: string[]): Promise<string> => {
    const r = await etcd.etcdctl(args, eps);
    if (r.exitCode !== 0) throw new Error(`etcdctl ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  };

  t.test('three members in one cluster, on this run\'s ports', async (t) => {
    const list = (await ctl(['member', 'list'])).split('\n').filter(Boolean);
    t.equal(list.length, 3, list.join('\n'));
    for (const m of etcd.members) {
      t.ok(list.some((l) => l.includes(m.name) && l.includes(m.clientUrl) && l.includes('started')), `${m.name} listed as started`);
      t.ok(m.name.startsWith(RUN_PREFIX), 'named with the run prefix');
    }
  });

  t.test('a put through one member is read through another', async (t) => {
    await ctl(['put', `/${RUN_PREFIX}/k1`, 'v1'], [a]);
    t.equal(await ctl(['get', '--print-value-only', `/${RUN_PREFIX}/k1`], [c]), 'v1');
  });

  t.test('one member stopped: the other two keep serving writes; restarted, it catches up', async (t) => {
    const stoppedPid = third.pid as number;
    await etcd.stop(2);
    t.notOk(pidAlive(stoppedPid), 'the stopped member\'s process is gone');
    t.not((await etcd.etcdctl(['get', `/${RUN_PREFIX}/k1`], [c])).exitCode, 0, 'the stopped member does not answer');
    await ctl(['put', `/${RUN_PREFIX}/k2`, 'v2'], [a]);
    t.equal(await ctl(['get', '--print-value-only', `/${RUN_PREFIX}/k2`], [b]), 'v2', 'written with two of three');

    await etcd.start(2);
    t.ok(third.running(), 'restarted');
    // serializable: answered from the member's own copy, so it shows what the member itself has
    const local = (): Promise<string> => ctl(['get', '--consistency=s', '--print-value-only', `/${RUN_PREFIX}/k2`], [c]);
    t.equal(await waitFor('the restarted member to catch up', async () => (await local()) === 'v2' && 'v2', 20_000), 'v2');
    t.equal((await ctl(['member', 'list'])).split('\n').filter(Boolean).length, 3, 'still three members');
  });

  t.test('destroy leaves no process and no directory', async (t) => {
    const pids = etcd.members.map((m) => m.pid as number);
    await etcd.destroy();
    for (const p of pids) t.notOk(pidAlive(p), `pid ${p} gone`);
    t.notOk(existsSync(etcd.dir), `${etcd.dir} removed`);
  });
});
