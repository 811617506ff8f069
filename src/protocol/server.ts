// HTTP on the plugin's Unix socket. Docker sends no Content-Type, expects
// status 200 with a JSON body on success and {"Err": …} with status 500 on
// failure. One log line per request, with its duration and outcome.
import { mkdir, chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { OvsvlanError } from '../errors.js';
import { parseBody } from './decode.js';
import type { Handler } from './routes.js';

const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export type PluginServer = ReturnType<typeof buildServer>;

export function buildServer(table: Record<string, Handler>, log: Logger) {
  const app = Fastify({
    loggerInstance: log,
    // our own onResponse hook writes one line per request instead of fastify's two
    logController: new LogController({ disableRequestLogging: true }),
    // Docker keeps connections in a pool and never replays a POST on a closed one.
    keepAliveTimeout: 10 * 60_000,
    bodyLimit: 4 * 1024 * 1024,
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
  });
  return app;
}

/** Bad input is the caller's to fix: logged as a warning, without a stack. */
function isCallersFault(err: Error): err is OvsvlanError {
  return err instanceof OvsvlanError && CALLER_FAULTS.has(err.code);
}
const CALLER_FAULTS = new Set(['OVSVLAN_ERR_INVALID_OPTION', 'OVSVLAN_ERR_INVALID_REQUEST', 'OVSVLAN_ERR_CONFLICT', 'OVSVLAN_ERR_NOT_FOUND']);

/** Listens on the socket (mode 0660); a stale socket file is replaced, a live one is refused. */
export async function listenUnix(app: Pick<FastifyInstance, 'listen'>, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  if (await socketAnswers(path)) {
    throw new OvsvlanError('OVSVLAN_ERR_CONFIG', `another process is serving ${path}; stop it first`);
  }
  await unlink(path).catch(() => undefined);
  await app.listen({ path });
  await chmod(path, 0o660);
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
