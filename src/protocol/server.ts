// HTTP on the plugin's Unix socket. Docker sends no Content-Type, expects
// status 200 with a JSON body on success and {"Err": …} with status 500 on
// failure. One log line per request, with its duration and outcome, and the
// same told to an optional observer (the metrics). Logs and errors name the
// call by its route; a path that is none is repeated only as a short prefix,
// and bodies are never logged.
import { StringDecoder } from 'node:string_decoder';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { InvalidRequestError, OvsvlanError, quoted } from '../errors.js';
import { parseBody } from './decode.js';
import type { Handler } from './routes.js';
import type { PluginSocket } from './socket.js';

const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
/**
 * Docker's largest bodies are port maps (CreateEndpoint, Join,
 * ProgramExternalConnectivity): about 100 bytes per published port, so
 * `-p 1000-60000:1000-60000` sends 6.3 MB (measured) that ovsvlan ignores;
 * `-p 1-65535:1-65535` twice over (TCP and UDP) stays under 16 MiB.
 */
const BODY_LIMIT = 16 * 1024 * 1024;

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
    // a path that cannot be decoded (`/x%zz`): fastify's own answer would repeat it whole, with no Err
    frameworkErrors: (err, req, reply) => {
      req.log.warn({ code: err.code }, `${quoted(req.url)} refused: ${err.code}`);
      // fastify types this reply generically over every route's schema; this answer is the same for all
      void (reply as unknown as FastifyReply).status(500).header('content-type', CONTENT_TYPE).send({ Err: `${quoted(req.url)} is not a valid request path` });
    },
    serverFactory: (h) => {
      handler = h;
      return socket.server;
    },
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, payload, done) => {
    readBody(payload, BODY_LIMIT).then(parseBody).then((body) => done(null, body), (err: Error) => done(err, undefined));
  });
  for (const [path, handler] of Object.entries(table)) {
    app.post(path, async (req, reply) => {
      const res = await handler((req.body as Record<string, unknown> | undefined) ?? {});
      return reply.header('content-type', CONTENT_TYPE).send(res);
    });
  }
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (isCallersFault(err)) req.log.warn({ code: err.code }, `${callOf(req)} refused: ${err.message}`);
    else req.log.error({ err, code: err.code }, `${callOf(req)} failed: ${err.message}`);
    return reply.status(500).header('content-type', CONTENT_TYPE).send({ Err: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ Err: `${callOf(req)} is not implemented by ovsvlan` }));
  app.addHook('onResponse', async (req, reply) => {
    const line = { call: callOf(req), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 };
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

/**
 * The body as text. A body over `limit` bytes is refused, but only once it has
 * been read to its end (and dropped): a sender still writing when the answer
 * comes would see its connection reset instead of the error.
 */
function readBody(stream: NodeJS.ReadableStream, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // decoded chunk by chunk as it comes: no 16 MiB decode in one turn of the event loop at the end
    const utf8 = new StringDecoder('utf8');
    const parts: string[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) parts.push(utf8.write(chunk));
    });
    stream.on('end', () => {
      if (size > limit) reject(new InvalidRequestError(`request body is larger than ${limit / 1024 / 1024} MiB`));
      else resolve(parts.join('') + utf8.end());
    });
    stream.on('error', reject);
  });
}

/** The call a request is for: its route (`NetworkDriver.Join`), or a short prefix of a path that is no route. */
function callOf(req: FastifyRequest): string {
  const route = req.routeOptions.url;
  return route ? route.slice(1) : quoted(req.url);
}

/** Bad input is the caller's to fix: logged as a warning, without a stack. Fastify's own refusals (a body too large) carry a 4xx status. */
function isCallersFault(err: Error & { statusCode?: number }): boolean {
  if (err instanceof OvsvlanError) return CALLER_FAULTS.has(err.code);
  return err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500;
}
const CALLER_FAULTS = new Set(['OVSVLAN_ERR_INVALID_OPTION', 'OVSVLAN_ERR_INVALID_REQUEST', 'OVSVLAN_ERR_CONFLICT', 'OVSVLAN_ERR_NOT_FOUND']);
