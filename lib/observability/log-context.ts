import { AsyncLocalStorage } from 'node:async_hooks';

/** Who a log line is about: carried through everything one event causes. */
export interface LogContext {
  correlation_id?: string | undefined;
  third_party_id?: string | undefined;
  parser_id?: string | undefined;
  function_name?: string | undefined;
  event_id?: string | undefined;
  event_type?: string | undefined;
}

const storage = new AsyncLocalStorage<LogContext>();

export function withLogContext<T>(fields: LogContext, work: () => Promise<T>): Promise<T> {
  return storage.run({ ...storage.getStore(), ...fields }, work);
}

/** Adds fields to the current context, for facts learnt part-way (the function's identity, say). */
export function addLogContext(fields: LogContext): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

export function currentLogContext(): LogContext {
  return storage.getStore() ?? {};
}
