// An AWS Lambda style handler: (event, context) in, API Gateway proxy response out.
import ms from 'ms';

const startedAt = Date.now();

export const handler = async (event, context) => {
  const isCloudEvent = typeof event.specversion === 'string';
  const name = isCloudEvent ? (event.data?.name ?? 'event') : (event.queryStringParameters?.name ?? 'world');
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      message: `Hello, ${name}!`,
      via: isCloudEvent ? `cloudevent ${event.type}` : `http ${event.requestContext.http.method}`,
      function: context.functionName,
      uptime: ms(Date.now() - startedAt),
    }),
  };
};
