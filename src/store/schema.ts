// The control-plane tables as Kysely sees them. Migrations in ./migrations.ts create them.
import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

export type DomainStatus = 'active' | 'suspended' | 'deleted';

export interface DomainsTable {
  id: string;
  slug: string;
  name: string;
  status: DomainStatus;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
  suspended_at: Date | null;
  deleted_at: Date | null;
}

export interface ProvisioningKeysTable {
  id: string;
  domain_id: string;
  name: string | null;
  prefix: string;
  hash: string;
  scopes: ColumnType<string[], string, string>;
  created_at: ColumnType<Date, Date, never>;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  replaces_key_id: string | null;
}

export interface AuditEventsTable {
  seq: number;
  id: string;
  at: Date;
  domain_id: string | null;
  actor: string;
  action: string;
  target: string | null;
  outcome: string;
  request_id: string | null;
  detail: ColumnType<Record<string, unknown>, string, string>;
  prev_hash: string;
  hash: string;
}

export interface SettingsTable {
  name: string;
  value: string;
  updated_at: Generated<Date>;
}

export interface Database {
  domains: DomainsTable;
  provisioning_keys: ProvisioningKeysTable;
  audit_events: AuditEventsTable;
  settings: SettingsTable;
}

export type DomainRow = Selectable<DomainsTable>;
export type KeyRow = Selectable<ProvisioningKeysTable>;
export type AuditRow = Selectable<AuditEventsTable>;
export type NewAuditRow = Insertable<AuditEventsTable>;
