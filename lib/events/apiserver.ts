/** ApiServerSource (Resource mode) event types: the data is the whole object as the watch saw it. */
export const ApiServerEventType = {
  Add: 'dev.knative.apiserver.resource.add',
  Update: 'dev.knative.apiserver.resource.update',
  Delete: 'dev.knative.apiserver.resource.delete',
} as const;

export const API_SERVER_EVENT_PREFIX = 'dev.knative.apiserver.resource.';

export function isApiServerEvent(type: string): boolean {
  return type.startsWith(API_SERVER_EVENT_PREFIX);
}
