import pino from 'pino';
import { logLevel, type logCreator } from 'kafkajs';

export type Logger = pino.Logger;

export function createLogger(level: string, name = 'cloudphone'): Logger {
  return pino({ name, level });
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
