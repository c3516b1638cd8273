// A faas-js-runtime style function in TypeScript: handle(context, event).
// It answers plain HTTP and CloudEvents; for a CloudEvent it replies with a CloudEvent.
interface Greeting {
  name?: string;
}

interface InvocationContext {
  method: string;
  query?: Record<string, string>;
  cloudevent?: { id: string; type: string; data?: Greeting };
}

export function handle(context: InvocationContext, body?: Greeting) {
  if (context.cloudevent) {
    const name = context.cloudevent.data?.name ?? 'event';
    return { statusCode: 200, body: { greeting: `Greetings, ${name}`, replyTo: context.cloudevent.id } };
  }
  const name = context.query?.name ?? body?.name ?? 'world';
  return { statusCode: 200, body: { greeting: `Greetings, ${name}`, method: context.method } };
}
