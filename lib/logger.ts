import pino from 'pino';
import { logLevel, type logCreator } from 'kafkajs';

export type Logger = pino.Logger;

/** A pino logger; `stderr` for CLIs whose stdout is their output (logs stay out of a pipe). */
export function createLogger(level: string, name = 'cloudphone', opts: { stderr?: boolean } = {}): Logger {
  return opts.stderr ? pino({ name, level }, pino.destination(2)) : pino({ name, level });
}

/** Routes kafkajs' own log lines into pino. */
export function kafkaLogCreator(logger: Logger): logCreator {
  return () =>
    ({ level, log }) => {
      const { message, ...extra } = log;
      const child = logger.child({ component: 'kafkajs' });
      if (level === logLevel.ERROR) child.error(extra, message);
      else if (level === logLevel.WARN) child.warn(extra, message);
      else if (level === logLevel.INFO) child.info(extra, message);
      else child.debug(extra, message);
    };
}
