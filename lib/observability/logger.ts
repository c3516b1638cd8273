import pino, { type Logger } from 'pino';
import { REDACTED } from '../events/redact.ts';
import { currentLogContext } from './log-context.ts';
import { currentTraceIds } from './tracing.ts';

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
  '*.*.env',
  'headers.authorization',
  '*.headers.authorization',
  'AWS_SECRET_ACCESS_KEY',
  '*.AWS_SECRET_ACCESS_KEY',
  'secretAccessKey',
  '*.secretAccessKey',
  'credentials',
  '*.credentials',
];

/**
 * JSON logs. Every line carries the trace and span ids of the active span and the
 * correlation id and function identity of the event being handled.
 */
export function createLogger(level: string, name = 'knative-lambda', destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name,
      level,
      redact: { paths: REDACTED_PATHS, censor: REDACTED },
      base: { service: name },
      mixin: () => ({ ...currentLogContext(), ...currentTraceIds() }),
    },
    destination,
  );
}

export type { Logger };
