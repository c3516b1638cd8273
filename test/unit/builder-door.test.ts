import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

describe('the builder', () => {
  it('leaves faas-js-runtime and its copy of the CloudEvents SDK as shipped (the door refuses invalid events instead)', async () => {
    await import('../../function/server.ts');
    const runtimeRequire = createRequire(createRequire(import.meta.url).resolve('faas-js-runtime'));
    const { ValidationError } = runtimeRequire('cloudevents') as { ValidationError: { prototype: object } };
    expect(Object.getOwnPropertyNames(ValidationError.prototype)).not.toContain('statusCode');
  });
});
