// Manifests as YAML, for people and for `kubectl apply -f -`: one document per object, `---` between them.
import { stringify } from 'yaml';
import type { KubeObject } from './kubernetes-manifests.js';

export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((object) => stringify(object)).join('---\n');
}
