import t from 'tap';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

t.test('defaults', async (t) => {
  t.same(loadConfig([], {}), {
    socket: '/run/docker/plugins/ovsvlan.sock',
    ovsdb: 'unix:/var/run/openvswitch/db.sock',
    stateDir: '/var/lib/ovsvlan',
    bridge: 'ovs0',
    datapath: 'auto',
    logLevel: 'info',
  });
});

t.test('flags win over env', async (t) => {
  const c = loadConfig(['--bridge', 'br1', '--datapath=netdev'], { OVSVLAN_BRIDGE: 'br0', OVSVLAN_LOG_LEVEL: 'debug' });
  t.equal(c.bridge, 'br1');
  t.equal(c.datapath, 'netdev');
  t.equal(c.logLevel, 'debug');
  t.ok(Object.isFrozen(c));
});

t.test('every bad setting is reported at once', async (t) => {
  const err = t.throws(() => loadConfig(['--nope', 'x'], { OVSVLAN_DATAPATH: 'kernel', OVSVLAN_BRIDGE: 'waytoolongbridgename', OVSVLAN_OVSDB: 'tcp:1.2.3.4:6640' })) as Error;
  t.ok(err instanceof ConfigError);
  t.match(err.message, /OVSVLAN_DATAPATH \(--datapath\) "kernel": must be one of system, netdev, auto/);
  t.match(err.message, /OVSVLAN_BRIDGE/);
  t.match(err.message, /OVSVLAN_OVSDB/);
  t.match(err.message, /unknown flag --nope/);
});
