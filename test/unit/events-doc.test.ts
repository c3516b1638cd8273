import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { parseCommand } from '../../lib/events/incoming.ts';
import * as payloads from '../../lib/events/payloads.ts';
import { CONSUMED_KINDS, EMITTED_KINDS, EventKind, type EmittedKind } from '../../lib/events/types.ts';
import { functionName } from '../../lib/naming.ts';

const PREFIX = 'network.notifi.lambda';
const emittedSchemas: Record<EmittedKind, z.ZodType> = {
  [EventKind.BuildStarted]: payloads.buildStartedData,
  [EventKind.BuildComplete]: payloads.buildCompleteData,
  [EventKind.BuildFailed]: payloads.buildFailedData,
  [EventKind.BuildTimeout]: payloads.buildTimeoutData,
  [EventKind.ServiceReady]: payloads.serviceReadyData,
  [EventKind.ServiceFailed]: payloads.serviceFailedData,
  [EventKind.ServiceDeleted]: payloads.serviceDeletedData,
};

async function examples(): Promise<Map<string, Record<string, unknown>>> {
  const text = await readFile(new URL('../../docs/EVENTS.md', import.meta.url), 'utf8');
  return new Map([...text.matchAll(/```json ([a-z.]+)\n([\s\S]*?)```/g)].map((m) => [m[1]!, JSON.parse(m[2]!)]));
}

describe('docs/EVENTS.md', () => {
  it('has a complete example for every type, consumed and emitted', async () => {
    expect([...(await examples()).keys()].sort()).toEqual([...CONSUMED_KINDS, ...EMITTED_KINDS].sort());
  });

  it('gives consumed examples the builder accepts', async () => {
    const docs = await examples();
    for (const kind of CONSUMED_KINDS) {
      const example = docs.get(kind)!;
      expect(example.type).toBe(`${PREFIX}.${kind}`);
      expect(() => parseCommand(PREFIX, example as never)).not.toThrow();
    }
  });

  it('gives emitted examples that match the payload schemas and the naming rules', async () => {
    const docs = await examples();
    for (const kind of EMITTED_KINDS) {
      const example = docs.get(kind)!;
      expect(example.type).toBe(`${PREFIX}.${kind}`);
      const data = emittedSchemas[kind].parse(example.data) as { third_party_id: string; parser_id: string; function_name: string };
      expect(data.function_name).toBe(functionName({ thirdPartyId: data.third_party_id, parserId: data.parser_id }));
      expect(example.subject).toBe(data.function_name);
    }
  });
});
