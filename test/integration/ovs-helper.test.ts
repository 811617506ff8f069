// The test harness itself: a private OVS instance starts inside a fresh netns and
// runs a netdev bridge, and nothing of it is left after teardown.
import t from 'tap';
import { existsSync } from 'node:fs';
import { createNetns } from '../helpers/netns.js';
import { startOvs, destroyOvs } from '../helpers/ovs.js';
import { RUN_PREFIX } from '../helpers/run.js';

t.test('private OVS instance with a netdev bridge', async (t) => {
  const ns = await createNetns(`${RUN_PREFIX}-h`);
  t.teardown(() => ns.remove());
  const ovs = await startOvs('h', ns.name);
  t.teardown(() => destroyOvs(ovs));
  await ovs.vsctl(['add-br', `${RUN_PREFIX}br`, '--', 'set', 'bridge', `${RUN_PREFIX}br`, 'datapath_type=netdev']);
  t.match(await ovs.vsctl(['list-br']), `${RUN_PREFIX}br`);
  t.ok(existsSync(ovs.dbSock));
});
