/**
 * Every failure is one of three categories. The category decides the HTTP status
 * (the retry contract with the broker), the metrics label and the log field.
 */
export type ErrorCategory = 'permanent' | 'transient' | 'unknown';

export class PlatformError extends Error {
  readonly category: ErrorCategory;
  /** Short CamelCase cause, stable enough for dashboards and event payloads. */
  readonly reason: string;
  readonly statusCode: number;
  readonly details: string[];

  constructor(category: ErrorCategory, reason: string, message: string, statusCode: number, details: string[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = 'PlatformError';
    this.category = category;
    this.reason = reason;
    this.statusCode = statusCode;
    this.details = details;
  }
}

/**
 * Invalid or forbidden input: never retried. 400, 403 and 422 are used on purpose: the broker retries
 * 404, 408 and 409, so a permanent failure must not answer with those.
 */
export function permanent(reason: string, message: string, details: string[] = [], statusCode: 400 | 403 | 413 | 422 = 422): PlatformError {
  return new PlatformError('permanent', reason, message, statusCode, details);
}

/** A dependency failed or is busy: the broker retries with backoff. */
export function transient(reason: string, message: string, cause?: unknown): PlatformError {
  return new PlatformError('transient', reason, message, 503, [], cause === undefined ? undefined : { cause });
}

export function tooManyRequests(reason: string, message: string): PlatformError {
  return new PlatformError('transient', reason, message, 429);
}

export function asPlatformError(error: unknown): PlatformError {
  if (error instanceof PlatformError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PlatformError('unknown', 'InternalError', message, 500, [], { cause: error });
}

/** Network-level failures that are worth retrying. */
export function isTransientNetworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'].includes(code);
}
