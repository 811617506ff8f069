// Composition root: builds the modules in order and starts them.
// start = load state → listen → connect to OVSDB (in the background: the
// socket must exist at once, and calls that need OVS wait for it).
// close = stop listening → close OVSDB. The data plane is never touched.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { NetworkDriver } from './driver/driver.js';
import { KeyedMutex } from './driver/lock.js';
import { DriverState } from './driver/state.js';
import { OvsdbClient } from './ovsdb/client.js';
import { routes } from './protocol/routes.js';
import { buildServer, listenUnix } from './protocol/server.js';
import { FileStore } from './store/file-store.js';
import { resolveDatapath } from './vswitch/datapath.js';
import { Vswitch } from './vswitch/vswitch.js';

export interface Daemon {
  close(): Promise<void>;
}

export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  const state = new DriverState(new FileStore(config.stateDir));
  await state.load();
  const datapath = await resolveDatapath(config.datapath);

  const ovsdb = new OvsdbClient({ endpoint: config.ovsdb, logger: log.child({ module: 'ovsdb' }) });
  const driver = new NetworkDriver({
    state,
    vswitch: new Vswitch(ovsdb),
    locks: new KeyedMutex(),
    log: log.child({ module: 'driver' }),
    defaultBridge: config.bridge,
    datapath,
  });
  const app = buildServer(routes(driver), log.child({ module: 'http' }));
  await listenUnix(app, config.socket);
  log.info({ socket: config.socket, ovsdb: config.ovsdb, stateDir: config.stateDir, bridge: config.bridge, datapath,
    networks: state.networks().length, endpoints: state.endpoints().length }, 'ovsvlan listening');

  ovsdb.connect().catch((err: unknown) => log.error({ err }, 'OVSDB connection abandoned'));

  return {
    close: async () => {
      await app.close();
      await ovsdb.close();
    },
  };
}
