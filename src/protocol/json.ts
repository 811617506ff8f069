// JSON parsing that lets the event loop in. A request body may be up to
// 16 MiB (server.ts), and JSON.parse of that much holds the event loop for
// seconds when it is many small values (measured: 1.4 million keys, 2.9 s;
// 5 million nested lists, 4.2 s), so every other request, Plugin.Activate
// included, would wait. Small bodies (all of Docker's but port maps) are
// parsed at once; larger ones value by value, pausing when a time slice is
// used up (timeslice.ts). The result is what JSON.parse gives: strings are
// decoded by JSON.parse itself, one token at a time, and `__proto__` stays a
// plain key. Nesting is kept on an explicit stack, so depth costs no
// recursion. No list, object or nesting may grow past bounds far above
// Docker's (MAX_ITEMS, MAX_KEYS, MAX_DEPTH): a body that does is refused as
// soon as it does, before it costs seconds or memory.
import { TimeSlice } from '../timeslice.js';

/** Bodies up to this many characters go to JSON.parse whole: a few milliseconds at worst. */
export const AT_ONCE_CHARS = 16 * 1024;

/** How many values are parsed between two looks at the clock. */
const VALUES_PER_LOOK = 256;
/**
 * Growing one huge object or list holds the event loop in V8 itself (a
 * dictionary of a million keys is rehashed in one go), so no container may
 * grow past these: far above anything Docker sends (its largest is the port
 * map, one entry per published port: at most 2 x 65,535), and above every
 * bound the requests' readers check (requests.ts).
 */
export const MAX_KEYS = 4096;
export const MAX_ITEMS = 262_144;
/** Docker's bodies nest a few levels; each level costs memory here, so a hostile body may not nest deeper. */
export const MAX_DEPTH = 512;

const WHITESPACE = /[ \t\n\r]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const CONTROL = /[\u0000-\u001f]/;

/** A body that is JSON, or may be, but past a bound (MAX_ITEMS, MAX_KEYS, MAX_DEPTH): its message says which. */
export class TooLargeError extends Error {}

type Container = { list: unknown[] } | { object: Record<string, unknown>; key: string; keys: number };

/** JSON.parse, without holding the event loop for more than a time slice; throws a SyntaxError on what JSON.parse refuses, a TooLargeError past a bound. */
export async function parseJson(text: string): Promise<unknown> {
  if (text.length <= AT_ONCE_CHARS) return JSON.parse(text);
  return new SlicedParser(text).parse();
}

class SlicedParser {
  readonly #s: string;
  #i = 0;

  constructor(text: string) {
    this.#s = text;
  }

  async parse(): Promise<unknown> {
    const stack: Container[] = [];
    const slice = new TimeSlice();
    for (let n = 1; ; n++) {
      if (n % VALUES_PER_LOOK === 0 && slice.due) await slice.pause();
      let value = this.#opening(stack);
      if (value === OPENED) continue;
      // the value is complete: put it into its container, closing every container it completes
      for (;;) {
        const top = stack[stack.length - 1];
        if (!top) {
          this.#space();
          if (this.#i !== this.#s.length) this.#fail();
          return value;
        }
        if ('list' in top) {
          if (top.list.push(value) > MAX_ITEMS) throw new TooLargeError(`a list of more than ${MAX_ITEMS} items`);
        } else {
          setKey(top.object, top.key, value);
          if (++top.keys > MAX_KEYS) throw new TooLargeError(`an object of more than ${MAX_KEYS} keys`);
        }
        this.#space();
        const c = this.#s[this.#i++];
        if (c === ',') {
          if ('object' in top) top.key = this.#key();
          break;
        }
        if (c !== ('list' in top ? ']' : '}')) this.#fail();
        stack.pop();
        value = 'list' in top ? top.list : top.object;
      }
    }
  }

  /** Reads a scalar or an empty container (returned), or opens a container on `stack` (OPENED). */
  #opening(stack: Container[]): unknown {
    this.#space();
    const c = this.#s[this.#i];
    if (c === '{' || c === '[') {
      this.#i++;
      this.#space();
      if (this.#s[this.#i] === (c === '{' ? '}' : ']')) {
        this.#i++;
        return c === '{' ? {} : [];
      }
      if (stack.length >= MAX_DEPTH) throw new TooLargeError(`lists or objects nested deeper than ${MAX_DEPTH} levels`);
      stack.push(c === '{' ? { object: {}, key: this.#key(), keys: 0 } : { list: [] });
      return OPENED;
    }
    if (c === '"') return this.#string();
    for (const [word, value] of LITERALS) {
      if (this.#s.startsWith(word, this.#i)) {
        this.#i += word.length;
        return value;
      }
    }
    NUMBER.lastIndex = this.#i;
    const m = NUMBER.exec(this.#s);
    if (!m) this.#fail();
    this.#i += m[0].length;
    return Number(m[0]);
  }

  /** An object's key and its colon. */
  #key(): string {
    this.#space();
    if (this.#s[this.#i] !== '"') this.#fail();
    const key = this.#string();
    this.#space();
    if (this.#s[this.#i++] !== ':') this.#fail();
    return key;
  }

  /** A string token, decoded by JSON.parse when it holds an escape. */
  #string(): string {
    const s = this.#s;
    let end = this.#i + 1;
    for (;;) {
      end = s.indexOf('"', end);
      if (end < 0) this.#fail();
      let backslashes = 0;
      while (s.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes++;
      if (backslashes % 2 === 0) break;
      end++;
    }
    const token = s.slice(this.#i, end + 1);
    this.#i = end + 1;
    if (token.includes('\\')) return JSON.parse(token) as string;
    if (CONTROL.test(token)) this.#fail();
    return token.slice(1, -1);
  }

  #space(): void {
    WHITESPACE.lastIndex = this.#i;
    WHITESPACE.exec(this.#s);
    this.#i = WHITESPACE.lastIndex;
  }

  #fail(): never {
    throw new SyntaxError(`not JSON at position ${this.#i}`);
  }
}

const OPENED = Symbol('opened');
const LITERALS: ReadonlyArray<[string, unknown]> = [['true', true], ['false', false], ['null', null]];

/** As JSON.parse sets a key: `__proto__` becomes an own property, not the object's prototype. */
function setKey(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  else object[key] = value;
}
