// Checks manifests against the Kubernetes API's own definitions, from two npm packages, without a cluster:
//
// - strict: JSON Schemas built here from the models that @kubernetes/client-node generates from the
//   Kubernetes OpenAPI spec (1.34): every property name and type of every object, required properties as
//   the generated declarations mark them, and no property the API does not define (the API server refuses
//   unknown fields in a server-side apply). Validated with the project's ajv.
// - upstream: the JSON Schema validators that kubernetes-models ships, compiled with ajv from the
//   Kubernetes OpenAPI spec (1.27); they check required fields and formats but allow unknown fields.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LimitRange, Namespace, ResourceQuota, ServiceAccount } from 'kubernetes-models/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import {
  ValidatingAdmissionPolicy,
  ValidatingAdmissionPolicyBinding,
} from 'kubernetes-models/admissionregistration.k8s.io/v1';

interface Attribute {
  /** The TypeScript name (`_default`), as the declaration file spells it. */
  readonly name: string;
  /** The API's name (`default`). */
  readonly baseName: string;
  readonly type: string;
  readonly format: string;
}

type Schema = Record<string, unknown>;

const modelsDir = join(
  dirname(fileURLToPath(import.meta.resolve('@kubernetes/client-node'))),
  'gen',
  'models',
);

/** The generated model class of a type, e.g. `V1NetworkPolicy`. */
function model(type: string): { attributeTypeMap: readonly Attribute[] } {
  const found = (k8s as unknown as Record<string, { attributeTypeMap?: readonly Attribute[] }>)[type];
  if (found?.attributeTypeMap === undefined) throw new Error(`@kubernetes/client-node has no model ${type}`);
  return found as { attributeTypeMap: readonly Attribute[] };
}

/** The properties the generated declaration marks as required (`'name': T;` rather than `'name'?: T;`). */
function requiredOf(type: string): string[] {
  const declaration = readFileSync(join(modelsDir, `${type}.d.ts`), 'utf8');
  return [...declaration.matchAll(/^ {4}'([^']+)': /gm)].map((m) => m[1]!);
}

function schemaOf(type: string, format: string, definitions: Record<string, Schema>): Schema {
  const array = /^Array<(.+)>$/.exec(type);
  if (array !== null) return { type: 'array', items: schemaOf(array[1]!, '', definitions) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) return { type: 'object', additionalProperties: schemaOf(map[1]!, '', definitions) };
  switch (type) {
    case 'string':
      return { type: 'string' };
    case 'number':
      return { type: format.startsWith('int') ? 'integer' : 'number' };
    case 'boolean':
      return { type: 'boolean' };
    case 'Date':
      return { type: 'string' };
    case 'IntOrString':
      return { type: ['integer', 'string'] };
    case 'any':
    case 'object':
      return {};
  }
  if (definitions[type] === undefined) {
    definitions[type] = {}; // placeholder: types refer to themselves (JSONSchemaProps)
    const attributes = model(type).attributeTypeMap;
    definitions[type] = {
      type: 'object',
      properties: Object.fromEntries(
        attributes.map((a) => [a.baseName, schemaOf(a.type, a.format, definitions)]),
      ),
      required: requiredOf(type).map((name) => attributes.find((a) => a.name === name)?.baseName ?? name),
      additionalProperties: false,
    };
  }
  return { $ref: `#/definitions/${type}` };
}

/** The kinds a resource's manifests may hold, with their API version and generated model. */
export const kinds = {
  Namespace: { apiVersion: 'v1', model: 'V1Namespace', upstream: Namespace },
  NetworkPolicy: { apiVersion: 'networking.k8s.io/v1', model: 'V1NetworkPolicy', upstream: NetworkPolicy },
  ResourceQuota: { apiVersion: 'v1', model: 'V1ResourceQuota', upstream: ResourceQuota },
  LimitRange: { apiVersion: 'v1', model: 'V1LimitRange', upstream: LimitRange },
  ServiceAccount: { apiVersion: 'v1', model: 'V1ServiceAccount', upstream: ServiceAccount },
  Role: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1Role', upstream: Role },
  RoleBinding: { apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1RoleBinding', upstream: RoleBinding },
  ValidatingAdmissionPolicy: {
    apiVersion: 'admissionregistration.k8s.io/v1',
    model: 'V1ValidatingAdmissionPolicy',
    upstream: ValidatingAdmissionPolicy,
  },
  ValidatingAdmissionPolicyBinding: {
    apiVersion: 'admissionregistration.k8s.io/v1',
    model: 'V1ValidatingAdmissionPolicyBinding',
    upstream: ValidatingAdmissionPolicyBinding,
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const strictValidators = new Map<string, ValidateFunction>();

function strictValidator(kind: keyof typeof kinds): ValidateFunction {
  let validate = strictValidators.get(kind);
  if (validate === undefined) {
    const definitions: Record<string, Schema> = {};
    const root = schemaOf(kinds[kind].model, '', definitions);
    validate = ajv.compile({
      definitions,
      allOf: [
        root,
        {
          required: ['apiVersion', 'kind', 'metadata'],
          properties: {
            apiVersion: { const: kinds[kind].apiVersion },
            kind: { const: kind },
            metadata: { required: ['name'] },
          },
        },
      ],
    });
    strictValidators.set(kind, validate);
  }
  return validate;
}

const describeErrors = (errors: readonly ErrorObject[] | null | undefined): string[] =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);

/** Every schema violation of one manifest, from both sources; empty when it is valid. */
export function schemaViolations(object: object): string[] {
  const kind = (object as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(kind in kinds)) return [`no schema for kind ${String(kind)}`];
  const known = kind as keyof typeof kinds;
  const violations: string[] = [];
  const strict = strictValidator(known);
  if (!strict(object)) violations.push(...describeErrors(strict.errors).map((e) => `strict: ${e}`));
  try {
    new kinds[known].upstream(object as never).validate();
  } catch (error) {
    violations.push(`upstream: ${(error as Error).message}`);
  }
  return violations;
}
