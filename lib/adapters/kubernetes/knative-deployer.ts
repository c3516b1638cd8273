import { CustomObjectsApi, KubernetesObjectApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { knativeServiceManifest, KNATIVE_SERVICE_API_VERSION, type KnativeServiceObject } from '../../kubernetes/knative-service.ts';
import { serviceRecordFromKnative } from '../../kubernetes/status.ts';
import { Annotations, Labels, MANAGED_BY } from '../../naming.ts';
import type { Deployer, ServiceRecord, ServiceSpec } from '../../ports/deployer.ts';
import { isNotFound, kubernetesError, STRICT_FIELD_VALIDATION } from './kube-errors.ts';

const GROUP = 'serving.knative.dev';
const VERSION = 'v1';
const PLURAL = 'services';
export const FIELD_MANAGER = 'knative-lambda';

/** Functions as Knative Services, applied with server-side apply (idempotent, no read-modify-write races). */
export class KnativeDeployer implements Deployer {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly namespace: string;
  private readonly serviceAccount: string;

  constructor(kubeConfig: KubeConfig, namespace: string, serviceAccount: string) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.namespace = namespace;
    this.serviceAccount = serviceAccount;
  }

  async apply(spec: ServiceSpec): Promise<ServiceRecord> {
    const manifest = knativeServiceManifest(spec, this.namespace, this.serviceAccount);
    try {
      const applied = await this.custom.patchNamespacedCustomObject(
        { group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name: spec.name, body: manifest, fieldManager: FIELD_MANAGER, fieldValidation: STRICT_FIELD_VALIDATION, force: true },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
      return serviceRecordFromKnative(applied as unknown as KnativeServiceObject) as ServiceRecord;
    } catch (error) {
      throw kubernetesError(error, `apply Knative Service ${spec.name}`);
    }
  }

  async get(name: string): Promise<ServiceRecord | undefined> {
    try {
      const service = (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name })) as KnativeServiceObject;
      if (service.metadata.labels?.[Labels.ManagedBy] !== MANAGED_BY) return undefined;
      return serviceRecordFromKnative(service);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw kubernetesError(error, `read Knative Service ${name}`);
    }
  }

  async list(): Promise<ServiceRecord[]> {
    try {
      const list = (await this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, labelSelector: `${Labels.ManagedBy}=${MANAGED_BY}` })) as { items: KnativeServiceObject[] };
      return list.items.map(serviceRecordFromKnative).filter((r): r is ServiceRecord => r !== undefined);
    } catch (error) {
      throw kubernetesError(error, 'list Knative Services');
    }
  }

  async delete(name: string): Promise<boolean> {
    try {
      await this.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: this.namespace, plural: PLURAL, name, propagationPolicy: 'Background' });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw kubernetesError(error, `delete Knative Service ${name}`);
    }
  }

  async markAnnounced(name: string, announcement: string): Promise<void> {
    try {
      await this.objects.patch(
        { apiVersion: KNATIVE_SERVICE_API_VERSION, kind: 'Service', metadata: { name, namespace: this.namespace, annotations: { [Annotations.Announced]: announcement } } },
        undefined,
        undefined,
        `${FIELD_MANAGER}-announcer`,
        undefined,
        PatchStrategy.MergePatch,
      );
    } catch (error) {
      if (!isNotFound(error)) throw kubernetesError(error, `annotate Knative Service ${name}`);
    }
  }
}
