import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type OpenMetricsContentType } from 'prom-client';
import { asPlatformError } from '../errors.ts';

/**
 * Every metric the platform exports, named once. One OpenMetrics registry (exemplars need
 * it); `/metrics` serves it as OpenMetrics when asked and as Prometheus text otherwise.
 * Label values are bounded: event types are the known ones or `other`, never ids.
 */
export const METRIC_PREFIX = 'knative_lambda_';

export const MetricName = {
  CloudEventsReceived: `${METRIC_PREFIX}cloudevents_received_total`,
  CloudEventHandlingDuration: `${METRIC_PREFIX}cloudevent_handling_duration_seconds`,
  CloudEventRequestSize: `${METRIC_PREFIX}cloudevent_request_size_bytes`,
  CloudEventResponseSize: `${METRIC_PREFIX}cloudevent_response_size_bytes`,
  BuildsStarted: `${METRIC_PREFIX}builds_started_total`,
  BuildsCompleted: `${METRIC_PREFIX}builds_completed_total`,
  BuildsFailed: `${METRIC_PREFIX}builds_failed_total`,
  BuildsTimedOut: `${METRIC_PREFIX}builds_timed_out_total`,
  BuildDuration: `${METRIC_PREFIX}build_duration_seconds`,
  BuildsRunning: `${METRIC_PREFIX}builds_running`,
  OldestRunningBuildAge: `${METRIC_PREFIX}oldest_running_build_age_seconds`,
  OldestBuildOverdue: `${METRIC_PREFIX}oldest_build_overdue_seconds`,
  BuildContextSize: `${METRIC_PREFIX}build_context_size_bytes`,
  BuildContextCreationDuration: `${METRIC_PREFIX}build_context_creation_duration_seconds`,
  BuildCacheHits: `${METRIC_PREFIX}build_cache_hits_total`,
  DuplicateEvents: `${METRIC_PREFIX}duplicate_events_total`,
  DeployDuration: `${METRIC_PREFIX}deploy_duration_seconds`,
  ServicesFailed: `${METRIC_PREFIX}services_failed_total`,
  DependencyRequests: `${METRIC_PREFIX}dependency_requests_total`,
  DependencyRequestDuration: `${METRIC_PREFIX}dependency_request_duration_seconds`,
  EventsEmitted: `${METRIC_PREFIX}events_emitted_total`,
  DeadLetteredEvents: `${METRIC_PREFIX}dead_lettered_events_total`,
  TenantRefusals: `${METRIC_PREFIX}tenant_refusals_total`,
} as const;

export const LabelName = {
  Type: 'type',
  Handler: 'handler',
  Code: 'code',
  Runtime: 'runtime',
  Reason: 'reason',
  Category: 'category',
  Outcome: 'outcome',
  Result: 'result',
  Source: 'source',
  Dependency: 'dependency',
  Operation: 'operation',
} as const;

const L = LabelName;
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BUILD_BUCKETS = [5, 10, 30, 60, 120, 300, 600, 1200, 1800];
const SIZE_BUCKETS = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576];
const CONTEXT_SIZE_BUCKETS = [4096, 65_536, 1_048_576, 10_485_760, 52_428_800, 209_715_200];

export const registry = new Registry<OpenMetricsContentType>();
registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

const registers = [registry];

export const metrics = {
  cloudEventsReceived: new Counter({ name: MetricName.CloudEventsReceived, help: 'CloudEvents received, by type, handler and answered status code', labelNames: [L.Type, L.Handler, L.Code], registers }),
  cloudEventHandlingDuration: new Histogram({ name: MetricName.CloudEventHandlingDuration, help: 'Time to handle one CloudEvent, until the answer', labelNames: [L.Type, L.Handler, L.Code], buckets: DURATION_BUCKETS, enableExemplars: true, registers }),
  cloudEventRequestSize: new Histogram({ name: MetricName.CloudEventRequestSize, help: 'Size of received CloudEvent requests', labelNames: [L.Type, L.Handler], buckets: SIZE_BUCKETS, enableExemplars: true, registers }),
  cloudEventResponseSize: new Histogram({ name: MetricName.CloudEventResponseSize, help: 'Size of the answers to CloudEvents', labelNames: [L.Type, L.Handler], buckets: SIZE_BUCKETS, enableExemplars: true, registers }),
  buildsStarted: new Counter({ name: MetricName.BuildsStarted, help: 'Builds created (redeliveries and cache hits excluded)', labelNames: [L.Runtime], registers }),
  buildsCompleted: new Counter({ name: MetricName.BuildsCompleted, help: 'Builds that produced an image, counted when announced', labelNames: [L.Runtime], registers }),
  buildsFailed: new Counter({ name: MetricName.BuildsFailed, help: 'Builds that failed, by reason and error category', labelNames: [L.Runtime, L.Reason, L.Category], registers }),
  buildsTimedOut: new Counter({ name: MetricName.BuildsTimedOut, help: 'Builds stopped at their deadline', labelNames: [L.Runtime], registers }),
  buildDuration: new Histogram({ name: MetricName.BuildDuration, help: "Build time from the build's own start and completion times", labelNames: [L.Runtime, L.Outcome], buckets: BUILD_BUCKETS, enableExemplars: true, registers }),
  buildContextSize: new Histogram({ name: MetricName.BuildContextSize, help: 'Size of build contexts (tar.gz)', labelNames: [L.Runtime], buckets: CONTEXT_SIZE_BUCKETS, enableExemplars: true, registers }),
  buildContextCreationDuration: new Histogram({ name: MetricName.BuildContextCreationDuration, help: 'Time to fetch, unpack and pack a source into a build context', labelNames: [L.Runtime], buckets: DURATION_BUCKETS, enableExemplars: true, registers }),
  buildCacheHits: new Counter({ name: MetricName.BuildCacheHits, help: 'build.start that needed no build: unchanged source already running (ready) or only redeployed (redeploy)', labelNames: [L.Runtime, L.Result], registers }),
  duplicateEvents: new Counter({ name: MetricName.DuplicateEvents, help: 'Duplicate events absorbed: redelivered build.start, repeated watch events', labelNames: [L.Source], registers }),
  deployDuration: new Histogram({ name: MetricName.DeployDuration, help: 'Time from the build.start request to service.ready', labelNames: [L.Runtime], buckets: BUILD_BUCKETS, enableExemplars: true, registers }),
  servicesFailed: new Counter({ name: MetricName.ServicesFailed, help: 'Functions that did not become ready, by reason', labelNames: [L.Reason], registers }),
  dependencyRequests: new Counter({ name: MetricName.DependencyRequests, help: 'Calls to dependencies (store, kubernetes, broker), by operation and outcome', labelNames: [L.Dependency, L.Operation, L.Outcome], registers }),
  dependencyRequestDuration: new Histogram({ name: MetricName.DependencyRequestDuration, help: 'Duration of calls to dependencies', labelNames: [L.Dependency, L.Operation], buckets: DURATION_BUCKETS, enableExemplars: true, registers }),
  eventsEmitted: new Counter({ name: MetricName.EventsEmitted, help: 'CloudEvents emitted, by type and outcome', labelNames: [L.Type, L.Outcome], registers }),
  tenantRefusals: new Counter({ name: MetricName.TenantRefusals, help: 'Events refused at the tenant boundary (403), by reason', labelNames: [L.Reason], registers }),
  deadLetteredEvents: new Counter({ name: MetricName.DeadLetteredEvents, help: 'Events the broker gave up delivering, by type', labelNames: [L.Type], registers }),
  buildsRunning: new Gauge({
    name: MetricName.BuildsRunning,
    help: 'Builds pending or running, as of the scrape',
    registers,
    async collect() {
      const builds = await activeBuilds();
      if (builds) this.set(builds.length);
    },
  }),
  oldestRunningBuildAge: new Gauge({
    name: MetricName.OldestRunningBuildAge,
    help: 'Age of the oldest pending or running build (from its start, or creation when pending), 0 when none',
    registers,
    async collect() {
      const builds = await activeBuilds();
      if (!builds) return;
      const ages = builds.map(ageSeconds).filter(Number.isFinite);
      this.set(ages.length ? Math.max(...ages) : 0);
    },
  }),
  oldestBuildOverdue: new Gauge({
    name: MetricName.OldestBuildOverdue,
    help: "How far past its own deadline the most overdue pending or running build is, 0 when none is: the build's end was not seen",
    registers,
    async collect() {
      const builds = await activeBuilds();
      if (!builds) return;
      const overdue = builds.map((b) => ageSeconds(b) - b.spec.timeoutSeconds).filter(Number.isFinite);
      this.set(Math.max(0, ...overdue));
    },
  }),
};

function ageSeconds(build: ActiveBuild): number {
  return (Date.now() - Date.parse(build.status.startTime ?? build.createdAt ?? '')) / 1000;
}

/** Failure reasons of builds, with the category each one has (see build-outcome). */
const BUILD_FAILURES: Array<[string, string]> = [
  ['BuildFailed', 'permanent'],
  ['Cancelled', 'permanent'],
  ['ExecutorError', 'transient'],
];

/**
 * Creates the series that alerts take rates of, at 0, so that the first event after a
 * start is seen by `rate()` and `increase()` instead of only creating the series.
 */
export function initialiseSeries(runtimes: readonly string[], eventKinds: readonly string[]): void {
  for (const runtime of runtimes) {
    metrics.buildsStarted.inc({ runtime }, 0);
    metrics.buildsCompleted.inc({ runtime }, 0);
    metrics.buildsTimedOut.inc({ runtime }, 0);
    for (const [reason, category] of BUILD_FAILURES) metrics.buildsFailed.inc({ runtime, reason, category }, 0);
  }
  for (const type of eventKinds) metrics.deadLetteredEvents.inc({ type }, 0);
}

export interface ActiveBuild {
  createdAt?: string | undefined;
  spec: { timeoutSeconds: number };
  status: { startTime?: string | undefined };
}

let inventory: { list: () => Promise<ActiveBuild[]>; log: Logger } | undefined;
let snapshot: { at: number; builds: Promise<ActiveBuild[] | undefined> } | undefined;

/**
 * Where the build gauges read from. Only one process of a deployment should report (the
 * job-watcher on a cluster), so the backend that should sets it; elsewhere they stay 0.
 * A listing that fails is logged here (and counted by the instrumented port that made it).
 */
export function reportBuildsFrom(list: () => Promise<ActiveBuild[]>, log: Logger): void {
  inventory = { list, log };
}

/**
 * What the build gauges report, one listing for all of a scrape. Undefined when the listing
 * failed: the gauges then keep their last values, since 0 would claim that nothing is stuck.
 */
function activeBuilds(): Promise<ActiveBuild[] | undefined> {
  if (!inventory) return Promise.resolve([]);
  const { list, log } = inventory;
  if (!snapshot || Date.now() - snapshot.at > 1000) {
    const builds = list().catch((error: unknown) => {
      const failure = asPlatformError(error);
      log.error({ err: failure, reason: failure.reason, category: failure.category }, `listing builds for the build gauges failed, they keep their last values: ${failure.message}`);
      return undefined;
    });
    snapshot = { at: Date.now(), builds };
  }
  return snapshot.builds;
}
