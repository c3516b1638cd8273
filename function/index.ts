/**
 * The builder function: a faas-js-runtime function that routes CloudEvents to the
 * pipeline and answers fast, with the status code the broker's retry contract expects.
 */
import type { Context } from 'faas-js-runtime';
import { toCloudEvent } from '../lib/adapters/events/http-sink.ts';
import { toEnvelope } from '../lib/events/envelope.ts';
import { asPlatformError } from '../lib/errors.ts';
import { dispatch } from '../lib/pipeline/dispatch.ts';
import type { PipelineDeps } from '../lib/pipeline/deps.ts';
import { createBuilderDeps } from './builder-deps.ts';

let pipeline: Promise<PipelineDeps> | undefined;
const shutdownHooks: Array<() => Promise<void>> = [];

/** The embedded platform hands its own backend in; anywhere else it is built from the environment. */
export function useBackend(deps: PipelineDeps): void {
  pipeline = Promise.resolve(deps);
}

function backend(): Promise<PipelineDeps> {
  pipeline ??= createBuilderDeps();
  return pipeline;
}

export async function init(): Promise<void> {
  await backend();
}

interface HttpReply {
  statusCode: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

function errorReply(statusCode: number, reason: string, message: string, details: string[] = []): HttpReply {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: { error: reason, message, details } };
}

export async function handle(context: Context, event?: unknown): Promise<unknown> {
  if (!context.cloudevent || !event || typeof event !== 'object') {
    return errorReply(400, 'NotACloudEvent', 'The builder accepts CloudEvents only (binary or structured content mode)');
  }
  const deps = await backend();
  const envelope = toEnvelope(event as Record<string, unknown>);
  try {
    const reply = await dispatch(deps, envelope);
    if ('event' in reply) return toCloudEvent(reply.event);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: reply.body };
  } catch (error) {
    const failure = asPlatformError(error);
    const log = failure.category === 'permanent' ? deps.log.warn.bind(deps.log) : deps.log.error.bind(deps.log);
    log({ err: failure, reason: failure.reason, category: failure.category, eventId: envelope.id, eventType: envelope.type, correlationId: envelope.correlationid }, failure.message);
    return errorReply(failure.statusCode, failure.reason, failure.message, failure.details);
  }
}

/** Whoever hosts the builder (the embedded platform) registers what must stop with it. */
export function onShutdown(hook: () => Promise<void>): void {
  shutdownHooks.push(hook);
}

/** faas-js-runtime calls this on SIGTERM and SIGINT before the process exits. */
export async function shutdown(): Promise<void> {
  await Promise.allSettled(shutdownHooks.map((hook) => hook()));
}

export function liveness(): string {
  return 'OK';
}

export function readiness(): string {
  return 'OK';
}
