import { randomUUID } from 'node:crypto';
import { HTTP } from 'cloudevents';
import { toCloudEvent } from '../adapters/events/http-sink.ts';
import type { EventEnvelope } from '../events/envelope.ts';
import type { DeadLetterEntry, FeedEntry } from '../platform/broker.ts';
import type { ReplayReport } from '../platform/http-api.ts';

export interface FunctionSummary {
  name: string;
  third_party_id: string;
  parser_id: string;
  runtime: string;
  phase: string;
  reason?: string;
  message?: string;
  url: string;
  revision: string;
  build: string;
  running: boolean;
}

export class PlatformUnreachableError extends Error {}

/** What the CLI needs from a platform: send events, follow what happens, read state. */
export class PlatformClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  /** `token` is KL_API_TOKEN, which a platform listening beyond loopback requires. */
  constructor(baseUrl: string, token?: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.token !== undefined) headers.set('authorization', `Bearer ${this.token}`);
    try {
      return await fetch(`${this.baseUrl}${path}`, { ...init, headers });
    } catch (error) {
      throw new PlatformUnreachableError(`Cannot reach the platform at ${this.baseUrl} (${(error as Error).cause ?? (error as Error).message}). Start it with \`npm start\`, or set KL_PLATFORM_URL.`);
    }
  }

  private async json<T>(path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.request(path, init);
    const body = (await response.json()) as T & { error?: string; message?: string };
    if (!response.ok) throw new Error(body.message ?? body.error ?? `${path} answered ${response.status}`);
    return body;
  }

  async send(event: EventEnvelope): Promise<void> {
    const message = HTTP.structured(toCloudEvent(event));
    const response = await this.request('/events', { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    if (response.status !== 202) throw new Error(`The broker refused the event (${response.status}): ${await response.text()}`);
  }

  /** Yields feed entries of one correlation id until the consumer stops or the deadline passes. */
  async *follow(correlationId: string, deadline: number): AsyncGenerator<FeedEntry> {
    let after = 0;
    while (Date.now() < deadline) {
      const wait = Math.max(1, Math.min(20, Math.ceil((deadline - Date.now()) / 1000)));
      const entries = await this.json<FeedEntry[]>(`/api/events?after=${after}&correlationid=${encodeURIComponent(correlationId)}&wait=${wait}`);
      for (const entry of entries) {
        after = Math.max(after, entry.seq);
        yield entry;
      }
    }
  }

  functions(): Promise<FunctionSummary[]> {
    return this.json<FunctionSummary[]>('/api/functions');
  }

  deadLetters(): Promise<DeadLetterEntry[]> {
    return this.json<DeadLetterEntry[]>('/api/dead-letters');
  }

  /** Publishes one dead letter, or every one, again. */
  replay(deadLetter: number | 'all'): Promise<ReplayReport> {
    const path = deadLetter === 'all' ? '/api/dead-letters/replay' : `/api/dead-letters/${deadLetter}/replay`;
    return this.json<ReplayReport>(path, { method: 'POST' });
  }

  async logs(name: string, lines: number): Promise<string> {
    const response = await this.request(`/api/functions/${encodeURIComponent(name)}/logs?lines=${lines}`);
    if (!response.ok) throw new Error(((await response.json()) as { error: string }).error);
    return response.text();
  }

  functionUrl(name: string): string {
    return `${this.baseUrl}/functions/${name}`;
  }

  invoke(name: string, query: string, init: RequestInit): Promise<Response> {
    return this.request(`/functions/${encodeURIComponent(name)}${query ? `?${query}` : ''}`, init);
  }
}

export function newCorrelationId(): string {
  return `cli-${randomUUID()}`;
}
