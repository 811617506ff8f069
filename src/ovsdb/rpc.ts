// JSON-RPC 1.0 over a stream socket, as OVSDB speaks it (RFC 7047 §4).
// ovsdb-server writes JSON objects back to back with no delimiter, so the
// stream is split by tracking nesting depth outside of strings.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { OvsdbConnectionError, OvsdbTimeoutError, errorFromObject } from './errors.js';

const OPEN_BRACE = 0x7b; // {
const CLOSE_BRACE = 0x7d; // }
const OPEN_BRACKET = 0x5b; // [
const CLOSE_BRACKET = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/** Default cap on one message; a whole Open_vSwitch DB dump is far below it. */
const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Splits a byte stream into consecutive JSON texts (objects or arrays). Works on bytes, so a chunk
 * boundary may fall anywhere, inside a string or a multi-byte UTF-8 character: the structural
 * characters are ASCII, and bytes of multi-byte UTF-8 sequences are all ≥ 0x80, so they never
 * look like braces or quotes. A message is decoded only once it is complete.
 */
export class JsonStreamSplitter {
  #held: Buffer[] = []; // start of an incomplete message, from earlier chunks
  #heldBytes = 0;
  #depth = 0;
  #inString = false;
  #escaped = false;
  readonly #maxBytes: number;

  constructor(maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES) {
    this.#maxBytes = maxMessageBytes;
  }

  /** Feeds a chunk; returns the parsed values completed by it. Throws on a stream that is not JSON. */
  push(chunk: Buffer | string): unknown[] {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const out: unknown[] = [];
    let start = 0; // first byte of `bytes` not yet part of an emitted message
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] ?? 0;
      if (this.#depth === 0 && !this.#inString && isWhitespace(b)) {
        start = i + 1; // whitespace between messages
      } else if (this.#scanByte(b)) {
        const piece = bytes.subarray(start, i + 1);
        out.push(parse(this.#held.length === 0 ? piece : Buffer.concat([...this.#held, piece])));
        this.#held = [];
        this.#heldBytes = 0;
        start = i + 1;
      }
    }
    if (start < bytes.length) {
      this.#held.push(bytes.subarray(start));
      this.#heldBytes += bytes.length - start;
      if (this.#heldBytes > this.#maxBytes) throw new SyntaxError(`JSON message larger than ${this.#maxBytes} bytes`);
    }
    return out;
  }

  /** Bytes of an incomplete message held back (0 between messages). */
  get pending(): number {
    return this.#heldBytes;
  }

  /** Advances the state machine by one byte; true when that byte closes a top-level value. */
  #scanByte(b: number): boolean {
    if (this.#inString) {
      if (this.#escaped) this.#escaped = false;
      else if (b === BACKSLASH) this.#escaped = true;
      else if (b === QUOTE) this.#inString = false;
      return false;
    }
    if (b === QUOTE) {
      if (this.#depth === 0) throw new SyntaxError('JSON stream: string outside of an object');
      this.#inString = true;
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      this.#depth++;
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      if (this.#depth === 0) throw new SyntaxError('JSON stream: unbalanced closing bracket');
      this.#depth--;
      return this.#depth === 0;
    } else if (this.#depth === 0) {
      throw new SyntaxError(`JSON stream: unexpected byte 0x${b.toString(16)} between messages`);
    }
    return false;
  }
}

function isWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function parse(bytes: Buffer): unknown {
  return JSON.parse(bytes.toString('utf8')) as unknown;
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Message {
  id?: unknown;
  method?: unknown;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

export interface JsonRpcEvents {
  /** A server notification (RFC 7047 §4.1.6 "update", "update2", "update3", "locked", "stolen"…). */
  notification: [method: string, params: unknown];
  /** The socket closed; `error` says why when it was not a clean close. Emitted once. */
  close: [error: Error | undefined];
}

/** One JSON-RPC session on a connected socket. It never reconnects: OvsdbClient does. */
export class JsonRpcConnection extends EventEmitter<JsonRpcEvents> {
  readonly #socket: Socket;
  readonly #splitter: JsonStreamSplitter;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;
  #closeError: Error | undefined;

  constructor(socket: Socket, opts: { maxMessageBytes?: number } = {}) {
    super();
    this.#socket = socket;
    this.#splitter = new JsonStreamSplitter(opts.maxMessageBytes);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      this.#closeError ??= new OvsdbConnectionError(`OVSDB socket error: ${err.message}`, { cause: err });
    });
    socket.on('close', () => this.#onClose());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a request and resolves with its `result`. A non-null `error` in the reply rejects with an
   * OvsdbError; a timeout rejects with OvsdbTimeoutError (a late reply is then dropped).
   */
  request(method: string, params: unknown[], timeoutMs?: number): Promise<unknown> {
    if (this.#closed) return Promise.reject(new OvsdbConnectionError(`cannot send ${method}: connection closed`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const text = JSON.stringify({ method, params, id }); // may throw (e.g. a BigInt): rejects, nothing registered
      const entry: Pending = { method, resolve, reject, timer: undefined };
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        entry.timer = setTimeout(() => {
          this.#pending.delete(id);
          reject(new OvsdbTimeoutError(`OVSDB ${method} request got no reply within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      this.#pending.set(id, entry);
      this.#socket.write(text);
    });
  }

  /** Closes the socket; pending requests reject with OvsdbConnectionError. */
  close(reason?: Error): void {
    if (reason) this.#closeError ??= reason;
    this.#socket.destroy();
  }

  #send(msg: object): void {
    this.#socket.write(JSON.stringify(msg));
  }

  #onData(chunk: Buffer): void {
    let messages: unknown[];
    try {
      messages = this.#splitter.push(chunk);
    } catch (err) {
      this.close(new OvsdbConnectionError(`invalid JSON from OVSDB server: ${(err as Error).message}`, { cause: err }));
      return;
    }
    for (const m of messages) this.#dispatch(m);
  }

  #dispatch(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return;
    const msg = raw as Message;
    if (typeof msg.method === 'string') {
      this.#onServerMessage(msg.method, msg.params, msg.id);
    } else if (typeof msg.id === 'number') {
      this.#onResponse(msg.id, msg);
    }
  }

  /** Requests (id set) and notifications (id null) from the server. */
  #onServerMessage(method: string, params: unknown, id: unknown): void {
    if (id === null || id === undefined) {
      this.emit('notification', method, params);
    } else if (method === 'echo') {
      // RFC 7047 §4.1.11: the reply's result is the request's params.
      this.#send({ id, result: params, error: null });
    } else {
      this.#send({ id, result: null, error: { error: 'unknown method', details: method } });
    }
  }

  #onResponse(id: number, msg: Message): void {
    const p = this.#pending.get(id);
    if (!p) return; // timed out earlier
    this.#pending.delete(id);
    if (p.timer) clearTimeout(p.timer);
    if (msg.error !== null && msg.error !== undefined) p.reject(errorFromObject(msg.error, `OVSDB ${p.method} failed`));
    else p.resolve(msg.result);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = this.#closeError ?? new OvsdbConnectionError('OVSDB connection closed');
    for (const p of this.#pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new OvsdbConnectionError(`OVSDB ${p.method} aborted: ${err.message}`, { cause: err }));
    }
    this.#pending.clear();
    this.emit('close', this.#closeError);
  }
}
