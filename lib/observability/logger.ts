import pino, { type Logger } from 'pino';

/**
 * Paths whose values never reach a log line: function environment (it holds users'
 * secrets), credentials and authorization headers wherever they appear.
 */
export const REDACTED_PATHS = [
  'env',
  '*.env',
  'data.env',
  '*.data.env',
  'spec.env',
  '*.spec.env',
  'headers.authorization',
  '*.headers.authorization',
  'AWS_SECRET_ACCESS_KEY',
  '*.AWS_SECRET_ACCESS_KEY',
  'secretAccessKey',
  '*.secretAccessKey',
];

export function createLogger(level: string, name = 'knative-lambda', destination?: pino.DestinationStream): Logger {
  return pino({ name, level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: name } }, destination);
}

export type { Logger };
