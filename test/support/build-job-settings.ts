import type { BuildJobSettings } from '../../lib/kubernetes/build-job.ts';

/** Settings of a build Job as the configuration would give them, for the pure manifest tests. */
export function buildJobSettings(overrides: Partial<BuildJobSettings> = {}): BuildJobSettings {
  return {
    namespace: 'knative-lambda',
    kanikoImage: 'docker.io/martizih/kaniko:v1.28.5',
    buildkitImage: 'docker.io/moby/buildkit:v0.34.0-rootless',
    buildContextImage: 'ghcr.io/knative-lambda/knative-lambda:0.1.0',
    imageRepository: 'registry.example.com/functions',
    registryInsecure: false,
    registrySecret: 'registry-creds',
    storeSecret: 'store-creds',
    serviceAccount: 'knative-lambda-build',
    storeRegion: 'us-east-1',
    storeEndpoint: 'http://minio.storage:9000',
    storeForcePathStyle: true,
    cpu: '1',
    memory: '2Gi',
    backoffLimit: 0,
    ttlSecondsAfterFinished: 3600,
    podAnnotations: {},
    ...overrides,
  };
}
