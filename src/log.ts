// The root logger: JSON lines on stdout. Modules receive child loggers through
// their constructors; nothing imports a global logger.
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { name: 'ovsvlan' }, timestamp: pino.stdTimeFunctions.isoTime });
}
