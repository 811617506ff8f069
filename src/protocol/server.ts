// HTTP on the plugin's Unix socket. Docker sends no Content-Type, expects
// status 200 with a JSON body on success and {"Err": …} with status 500 on
// failure. One log line per request, with its duration and outcome, and the
// same told to an optional observer (the metrics).
import Fastify, { LogController } from 'fastify';
import type { Logger } from 'pino';
import { OvsvlanError } from '../errors.js';
import { parseBody } from './decode.js';
import type { Handler } from './routes.js';
import type { PluginSocket } from './socket.js';

const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/**
 * Told of every answered request: `call` is the route without its slash
 * (`NetworkDriver.Join`), or `unknown` for a path not in the table; `ok` is
 * status 200. Runs on the request path: it must only count.
 */
export type RequestObserver = (call: string, outcome: 'ok' | 'error', seconds: number) => void;

/** Builds the app on the already listening socket, and serves with it once it is ready. */
export async function startServer(table: Record<string, Handler>, log: Logger, socket: PluginSocket, observe?: RequestObserver) {
  let handler: Parameters<PluginSocket['attach']>[0] | undefined;
  const app = Fastify({
    loggerInstance: log,
    // our own onResponse hook writes one line per request instead of fastify's two
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
    serverFactory: (h) => {
      handler = h;
      return socket.server;
    },
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  for (const [path, handler] of Object.entries(table)) {
    app.post(path, async (req, reply) => {
      const res = await handler((req.body as Record<string, unknown> | undefined) ?? {});
      return reply.header('content-type', CONTENT_TYPE).send(res);
    });
  }
  app.setErrorHandler((err: Error, req, reply) => {
    if (isCallersFault(err)) req.log.warn({ code: err.code }, `${req.url} refused: ${err.message}`);
    else req.log.error({ err, code: err instanceof OvsvlanError ? err.code : undefined }, `${req.url} failed: ${err.message}`);
    return reply.status(500).header('content-type', CONTENT_TYPE).send({ Err: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ Err: `${req.url} is not implemented by ovsvlan` }));
  app.addHook('onResponse', async (req, reply) => {
    const line = { call: req.url.slice(1), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
    if (reply.statusCode === 200) req.log.info(line, 'request');
    else req.log.warn(line, 'request failed');
    // the route, not the URL: a stray path must not make a label of its own
    observe?.(req.routeOptions.url?.slice(1) ?? 'unknown', reply.statusCode === 200 ? 'ok' : 'error', reply.elapsedTime / 1000);
  });
  await app.ready();
  if (!handler) throw new Error('fastify did not take the plugin socket');
  socket.attach(handler);
  return app;
}

/** Bad input is the caller's to fix: logged as a warning, without a stack. */
function isCallersFault(err: Error): err is OvsvlanError {
  return err instanceof OvsvlanError && CALLER_FAULTS.has(err.code);
}
const CALLER_FAULTS = new Set(['OVSVLAN_ERR_INVALID_OPTION', 'OVSVLAN_ERR_INVALID_REQUEST', 'OVSVLAN_ERR_CONFLICT', 'OVSVLAN_ERR_NOT_FOUND']);
