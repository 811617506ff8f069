import t from 'tap';
import { loadConfig, parseCommandLine } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

t.test('defaults', async (t) => {
  const c = loadConfig([], {});
  t.same({ ...c, defaultPools: undefined }, {
    socket: '/run/docker/plugins/ovsvlan.sock',
    ovsdb: 'unix:/var/run/openvswitch/db.sock',
    stateDir: '/var/lib/ovsvlan',
    bridge: 'ovs0',
    datapath: 'auto',
    defaultPools: undefined,
    docker: 'unix:///var/run/docker.sock',
    leaseGraceMs: 60_000,
    spares: 4,
    metrics: '',
    logLevel: 'info',
    cluster: undefined,
  });
  t.same([c.defaultPools.v4.base.cidr, c.defaultPools.v4.bits, c.defaultPools.v6.base.cidr, c.defaultPools.v6.bits],
    ['10.200.0.0/16', 24, 'fd6f:7673:766c::/48', 64], 'default pools parsed: a prefix and a size per family');
});

t.test('flags win over env', async (t) => {
  const c = loadConfig(['--bridge', 'br1', '--datapath=netdev'], { OVSVLAN_BRIDGE: 'br0', OVSVLAN_LOG_LEVEL: 'debug' });
  t.equal(c.bridge, 'br1');
  t.equal(c.datapath, 'netdev');
  t.equal(c.logLevel, 'debug');
  t.ok(Object.isFrozen(c));
});

t.test('every bad setting is reported at once', async (t) => {
  const err = t.throws(() => loadConfig([], { OVSVLAN_DATAPATH: 'kernel', OVSVLAN_BRIDGE: 'waytoolongbridgename', OVSVLAN_OVSDB: 'tcp:1.2.3.4:6640' })) as Error;
  t.ok(err instanceof ConfigError);
  t.match(err.message, /OVSVLAN_DATAPATH \(--datapath\) "kernel": must be one of system, netdev, auto/);
  t.match(err.message, /OVSVLAN_BRIDGE/);
  t.match(err.message, /OVSVLAN_OVSDB/);
});

t.test('flags: both forms, a flag never swallows the next one, unknown flags named', async (t) => {
  t.same([...parseCommandLine(['--socket=/a', '--ovsdb', 'unix:/b']).settings], [['--socket', '/a'], ['--ovsdb', 'unix:/b']]);
  t.throws(() => loadConfig(['--socket', '--ovsdb', 'unix:/x'], {}), /--socket needs a value but is followed by a flag/);
  t.throws(() => loadConfig(['--nope', 'x'], {}), /unknown flag --nope; known flags: --socket/);
  t.throws(() => loadConfig(['stray'], {}), /stray/);
  const cl = parseCommandLine(['--json', '--bridge=b1', '-h'], { json: { type: 'boolean', help: '' } });
  t.same(cl.own, { json: true });
  t.equal(cl.help, true);
  t.equal(cl.settings.get('--bridge'), 'b1');
});

t.test('OVSVLAN_BRIDGE: the rules of the bridge option, reserved names included', async (t) => {
  t.throws(() => loadConfig([], { OVSVLAN_BRIDGE: 'ovb0123456789ab' }), /OVSVLAN_BRIDGE.*not a name ovsvlan makes/);
  t.throws(() => loadConfig([], { OVSVLAN_BRIDGE: '-br' }), /OVSVLAN_BRIDGE.*starting with a letter or digit/);
  for (const device of ['ovs-system', 'ovs-netdev']) {
    t.throws(() => loadConfig([], { OVSVLAN_BRIDGE: device }), /OVSVLAN_BRIDGE.*nor ovs-system or ovs-netdev/, `${device}: Open vSwitch's own datapath device`);
  }
  t.equal(loadConfig([], { OVSVLAN_BRIDGE: 'br-vlan.1' }).bridge, 'br-vlan.1');
});

t.test('default pools', async (t) => {
  t.throws(() => loadConfig([], { OVSVLAN_DEFAULT_POOLS: '10.0.0.0/16:8' }), /OVSVLAN_DEFAULT_POOLS.*size must be between 16 and 32/);
  t.throws(() => loadConfig([], { OVSVLAN_DEFAULT_POOLS: '10.0.0.0/16' }), /is not base\/len:size/);
  const one = loadConfig([], { OVSVLAN_DEFAULT_POOLS: '172.30.0.0/16:26' }).defaultPools;
  t.same([one.v4.base.cidr, one.v4.bits, one.v6.base.cidr], ['172.30.0.0/16', 26, 'fd6f:7673:766c::/48'], 'a family not given keeps its default');
  t.throws(() => loadConfig([], { OVSVLAN_DEFAULT_POOLS: '10.0.0.0/16:24,10.1.0.0/16:24' }), /only one range per address family/);
  t.throws(() => loadConfig([], { OVSVLAN_DEFAULT_POOLS: '10.0.0.1/16:24' }), /OVSVLAN_DEFAULT_POOLS \(--default-pools\) "10.0.0.1\/16:24": .*no host bits set; e\.g\. 10\.200/,
    'a base with host bits: refused at load, naming the setting (the daemon used to find it at start)');
});

t.test('lease grace: seconds in the setting, ms once loaded', async (t) => {
  t.equal(loadConfig(['--lease-grace', '5'], {}).leaseGraceMs, 5000);
  t.throws(() => loadConfig([], { OVSVLAN_LEASE_GRACE: '1.5' }), /OVSVLAN_LEASE_GRACE \(--lease-grace\) "1.5": must be a number of seconds/);
});

t.test('cluster mode: off without OVSVLAN_ETCD, its settings parsed with it', async (t) => {
  const noMachineId = (): string => {
    throw new Error('not to be read');
  };
  t.equal(loadConfig([], {}, noMachineId).cluster, undefined, 'local mode by default; /etc/machine-id not read');
  const c = loadConfig(['--etcd', 'https://127.0.0.1:2379, https://etcd-2.example:2379/'], {
    OVSVLAN_HOST_ID: 'h1', OVSVLAN_UNDERLAY_IP: '2001:DB8:0::1', OVSVLAN_MESH_GRACE: '5', OVSVLAN_ETCD_PREFIX: '/lab/ovsvlan',
    OVSVLAN_ETCD_CA: '/etc/ovsvlan/ca.pem', OVSVLAN_ETCD_CERT: '/etc/ovsvlan/c.pem', OVSVLAN_ETCD_KEY: '/etc/ovsvlan/k.pem',
  }, noMachineId);
  t.same(c.cluster, {
    endpoints: ['https://127.0.0.1:2379', 'https://etcd-2.example:2379'], ca: '/etc/ovsvlan/ca.pem', cert: '/etc/ovsvlan/c.pem',
    key: '/etc/ovsvlan/k.pem', prefix: '/lab/ovsvlan', hostId: 'h1', underlayIp: '2001:db8::1', meshGraceMs: 5000,
  });
  t.ok(Object.isFrozen(c.cluster));
  const d = loadConfig([], { OVSVLAN_ETCD: 'http://10.0.0.1:2379' }, () => '0123456789abcdef0123456789abcdef\n');
  t.same([d.cluster?.hostId, d.cluster?.prefix, d.cluster?.underlayIp, d.cluster?.meshGraceMs, d.cluster?.ca],
    ['0123456789abcdef0123456789abcdef', '/ovsvlan', '', 60_000, undefined], 'defaults: the machine id, /ovsvlan, underlay resolved at start, 60 s');
});

t.test('cluster mode: every bad value named with what it may be', async (t) => {
  const err = t.throws(() => loadConfig([], {
    OVSVLAN_ETCD: 'http://10.0.0.1:2379,10.0.0.2:2379', OVSVLAN_HOST_ID: '-h', OVSVLAN_ETCD_PREFIX: '/ovsvlan/',
    OVSVLAN_UNDERLAY_IP: '10.0.0.1/24', OVSVLAN_MESH_GRACE: '1m', OVSVLAN_ETCD_CA: 'ca.pem',
  })) as Error;
  t.ok(err instanceof ConfigError);
  t.match(err.message, /OVSVLAN_ETCD \(--etcd\) "http:\/\/10.0.0.1:2379,10.0.0.2:2379": "10.0.0.2:2379" is not an etcd client URL: must be http:\/\/ or https:\/\//);
  t.match(err.message, /OVSVLAN_HOST_ID \(--host-id\) "-h": must be 1-63 letters/);
  t.match(err.message, /OVSVLAN_ETCD_PREFIX \(--etcd-prefix\) "\/ovsvlan\/": .*not ending in "\/"/);
  t.match(err.message, /OVSVLAN_UNDERLAY_IP \(--underlay-ip\) "10.0.0.1\/24": must be an IPv4 or IPv6 address/);
  t.match(err.message, /OVSVLAN_MESH_GRACE \(--mesh-grace\) "1m": must be a number of seconds/);
  t.match(err.message, /OVSVLAN_ETCD_CA \(--etcd-ca\) "ca.pem": must be an absolute path/);
  t.throws(() => loadConfig([], { OVSVLAN_ETCD: 'etcd://10.0.0.1:2379' }, () => 'h'), /not an etcd client URL/);
  t.throws(() => loadConfig([], { OVSVLAN_ETCD: 'http://10.0.0.1' }, () => 'h'), /not an etcd client URL/, 'a port is required');
});

t.test('cluster mode: cert and key together, its settings only with OVSVLAN_ETCD, a host id needed', async (t) => {
  t.throws(() => loadConfig([], { OVSVLAN_ETCD: 'https://10.0.0.1:2379', OVSVLAN_HOST_ID: 'h1', OVSVLAN_ETCD_CERT: '/c.pem' }),
    /OVSVLAN_ETCD_CERT \(--etcd-cert\) and OVSVLAN_ETCD_KEY \(--etcd-key\): give both/);
  const noCa = loadConfig([], { OVSVLAN_ETCD: 'https://10.0.0.1:2379', OVSVLAN_HOST_ID: 'h1', OVSVLAN_ETCD_CERT: '/c.pem', OVSVLAN_ETCD_KEY: '/k.pem' });
  t.same([noCa.cluster?.ca, noCa.cluster?.cert, noCa.cluster?.key], [undefined, '/c.pem', '/k.pem'], 'a client certificate without a CA: the system\'s CAs');
  const plain = t.throws(() => loadConfig([], {
    OVSVLAN_ETCD: 'http://10.0.0.1:2379,http://10.0.0.2:2379', OVSVLAN_HOST_ID: 'h1', OVSVLAN_ETCD_CA: '/ca.pem', OVSVLAN_ETCD_CERT: '/c.pem',
  })) as Error;
  t.ok(plain instanceof ConfigError);
  t.match(plain.message, /OVSVLAN_ETCD \(--etcd\): http:\/\/10.0.0.1:2379, http:\/\/10.0.0.2:2379 are http:\/\/, but OVSVLAN_ETCD_CA \(--etcd-ca\), OVSVLAN_ETCD_CERT \(--etcd-cert\) are set: TLS files need https:\/\/ endpoints/,
    'TLS files with http:// endpoints: named, not left to show as "etcd unreachable"');
  t.match(plain.message, /give both/, 'reported with the other bad settings at once');
  t.throws(() => loadConfig([], { OVSVLAN_ETCD: 'http://10.0.0.1:2379,https://10.0.0.2:2379', OVSVLAN_HOST_ID: 'h1' }),
    /OVSVLAN_ETCD \(--etcd\): mixes http:\/\/ and https:\/\/ endpoints/);
  t.throws(() => loadConfig(['--host-id', 'h1'], { OVSVLAN_MESH_GRACE: '5' }),
    /OVSVLAN_HOST_ID \(--host-id\), OVSVLAN_MESH_GRACE \(--mesh-grace\): only for cluster mode; set OVSVLAN_ETCD \(--etcd\) too/);
  t.equal(loadConfig([], { OVSVLAN_ETCD_PREFIX: '/ovsvlan', OVSVLAN_MESH_GRACE: '60' }).cluster, undefined,
    'defaults given explicitly (the managed plugin sets every variable) are not a cluster setting given');
  t.throws(() => loadConfig([], { OVSVLAN_ETCD: 'http://10.0.0.1:2379' }, () => {
    throw new Error('ENOENT: no such file');
  }), /OVSVLAN_HOST_ID \(--host-id\): not set, and \/etc\/machine-id cannot be read \(ENOENT: no such file\); set it/);
  t.throws(() => loadConfig([], { OVSVLAN_ETCD: 'http://10.0.0.1:2379' }, () => ''), /\/etc\/machine-id holds "", which is not a host id/);
});

t.test('errors repeat at most a short prefix of what was given', async (t) => {
  const long = 'x'.repeat(300);
  for (const [argv, env] of [[['--bridge', long], {}], [[], { OVSVLAN_LOG_LEVEL: long }], [[], { OVSVLAN_DEFAULT_POOLS: `${long}/16:24` }],
    [[`--${long}`], {}], [['--state-dir=/a', `--state-dir=/${long}`], {}]] as Array<[string[], Record<string, string>]>) {
    const err = t.throws(() => loadConfig(argv, env)) as Error;
    t.notOk(err.message.includes('x'.repeat(65)), `${argv.join(' ').slice(0, 30)} ${Object.keys(env).join()}: ${err.message.slice(0, 80)}…`);
    t.match(err.message, /x{10}.*…/, 'the value is shown, cut short');
  }
});
