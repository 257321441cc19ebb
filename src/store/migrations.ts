// One ordered list of migrations, the same for PGlite and PostgreSQL. Each is plain SQL so that what
// the database enforces (checks, unique indexes) is visible in one place.
import { sql, Migrator, type Kysely, type Migration, type MigrationResultSet } from 'kysely';

/** The role the server runs as: it owns nothing and cannot bypass row-level security. */
export const appRole = 'bulkhead_app';
/**
 * The role of the system context (`Store.system`). Until migration 0017 the application role was a
 * member and switched to it per transaction; from 0017 on, only a login of its own (or the owner) may.
 */
export const systemRole = 'bulkhead_system';

/** Tables whose every row belongs to one domain, and the column that says which. */
export const domainTables: Readonly<Record<string, string>> = {
  domains: 'id',
  provisioning_keys: 'domain_id',
  pools: 'domain_id',
  domain_keys: 'domain_id',
  resources: 'domain_id',
  backend_names: 'domain_id',
  signing_keys: 'domain_id',
  principals: 'domain_id',
  sessions: 'domain_id',
  refresh_tokens: 'domain_id',
  revocations: 'domain_id',
  instances: 'domain_id',
  volumes: 'domain_id',
  blueprints: 'domain_id',
  storage_reservations: 'domain_id',
  usage_records: 'domain_id',
  price_overrides: 'domain_id',
  invoices: 'domain_id',
  invoice_lines: 'domain_id',
  billing_details: 'domain_id',
  oauth_clients: 'domain_id',
  stripe_customers: 'domain_id',
  invoice_payments: 'domain_id',
  stripe_events: 'domain_id',
  portal_hosts: 'domain_id',
  portal_branding: 'domain_id',
  oauth_codes: 'domain_id',
  oauth_assertions: 'domain_id',
  idempotent_requests: 'domain_id',
};

/** Tables created after migration 0012, which isolate themselves when they are created. */
const isolatedOnCreation: readonly string[] = [
  'storage_reservations',
  'usage_records',
  'price_overrides',
  'invoices',
  'invoice_lines',
  'billing_details',
  'stripe_customers',
  'invoice_payments',
  'stripe_events',
  'oauth_clients',
  'portal_hosts',
  'portal_branding',
  'oauth_codes',
  'oauth_assertions',
  'idempotent_requests',
];

// Until migration 0012: a row is visible and writable when its domain is the transaction's, or in the
// system context. Each setting is read once per statement (a sub-select is an init plan), not once per row.
const inScopeOrSystem = (column: string) =>
  `${column} = (SELECT current_setting('bulkhead.domain_id', true)) OR (SELECT current_setting('bulkhead.system', true)) = 'on'`;

/** The policy of migrations 0009–0011, replaced for every table by 0012. */
async function isolateBySetting(db: Kysely<unknown>, table: string, column: string): Promise<void> {
  await sql.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`).execute(db);
  await sql.raw(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`).execute(db);
  await sql
    .raw(
      `CREATE POLICY domain_isolation ON ${table} USING (${inScopeOrSystem(column)}) WITH CHECK (${inScopeOrSystem(column)})`,
    )
    .execute(db);
}

/**
 * The application role's view until migration 0019: the rows of the domain the setting names, with no
 * other branch to plan. 0019 rewrites every such policy to `(SELECT public.scope_domain())`, which a
 * policy made after it must use too: the store refuses to start on a policy that reads the setting itself.
 */
const ownDomain = (column: string) => `${column} = (SELECT current_setting('bulkhead.domain_id', true))`;
/** The application role's view from migration 0019 on: the rows of the domain its signed scope names. */
const signedDomain = (column: string) => `${column} = (SELECT public.scope_domain())`;
const ownSignedDomain = (column: string) => ({ using: signedDomain(column), check: signedDomain(column) });
/** The owner (migrations) sees rows only when it says it works across domains, as 0009 set it up. */
const ownerSystem = `(SELECT current_setting('bulkhead.system', true)) = 'on'`;

/**
 * Row-level security from 0012 on: one policy per role, so the application role's policy is a plain
 * equality the planner can drive an index with; the system role (entered per transaction with
 * `SET LOCAL ROLE`) sees every row; the owner only in the migrations' system context.
 */
async function isolate(
  db: Kysely<unknown>,
  table: string,
  column: string,
  app: { using: string; check: string } = { using: ownDomain(column), check: ownDomain(column) },
): Promise<void> {
  await sql.raw(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY`).execute(db);
  await sql.raw(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY`).execute(db);
  await sql
    .raw(`CREATE POLICY own_domain ON ${table} TO ${appRole} USING (${app.using}) WITH CHECK (${app.check})`)
    .execute(db);
  await sql
    .raw(`CREATE POLICY system_context ON ${table} TO ${systemRole} USING (true) WITH CHECK (true)`)
    .execute(db);
  await sql
    .raw(
      `CREATE POLICY owner_system_context ON ${table} TO CURRENT_USER USING (${ownerSystem}) WITH CHECK (${ownerSystem})`,
    )
    .execute(db);
}

/** Grants the application and system roles what they need on a table, and nothing more. */
async function grantApp(db: Kysely<unknown>, table: string, privileges = 'SELECT, INSERT, UPDATE, DELETE') {
  await sql.raw(`GRANT ${privileges} ON ${table} TO ${appRole}`).execute(db);
  if (await roleExists(db, systemRole)) {
    await sql.raw(`GRANT ${privileges} ON ${table} TO ${systemRole}`).execute(db);
  }
}

async function roleExists(db: Kysely<unknown>, role: string): Promise<boolean> {
  const { rows } = await sql<{
    n: number;
  }>`SELECT count(*)::int AS n FROM pg_roles WHERE rolname = ${role}`.execute(db);
  return rows[0]!.n > 0;
}

/**
 * Creates a role that can never log in, own, create or bypass anything, or repairs one that was widened.
 * Roles are shared by every database on a server; two of them migrating at once may race to create it.
 */
async function ensureBareRole(db: Kysely<unknown>, role: string, inherit: 'NOINHERIT' | '' = '') {
  await sql
    .raw(
      `DO $$ BEGIN
         CREATE ROLE ${role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION ${inherit};
       EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
       END $$`,
    )
    .execute(db);
  const inheritTest = inherit === 'NOINHERIT' ? 'OR rolinherit' : '';
  await sql
    .raw(
      `DO $$ BEGIN
         IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}'
                    AND (rolsuper OR rolbypassrls OR rolcanlogin OR rolcreaterole OR rolcreatedb ${inheritTest})) THEN
           ALTER ROLE ${role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS ${inherit};
         END IF;
       END $$`,
    )
    .execute(db);
}

/**
 * Takes the system role away from the application role, whoever granted it (PostgreSQL 16 on records
 * each grant under its grantor, and a REVOKE without GRANTED BY removes only the current role's own).
 */
const revokeSystemFromApp = `DO $$ DECLARE g record; BEGIN
    FOR g IN
      SELECT grantor.rolname AS grantor FROM pg_auth_members m JOIN pg_roles grantor ON grantor.oid = m.grantor
      WHERE m.roleid = '${systemRole}'::regrole AND m.member = '${appRole}'::regrole
    LOOP
      IF current_setting('server_version_num')::int >= 160000 THEN
        EXECUTE format('REVOKE ${systemRole} FROM ${appRole} GRANTED BY %I', g.grantor);
      ELSE
        REVOKE ${systemRole} FROM ${appRole};
      END IF;
    END LOOP;
  END $$`;

const migrations: Record<string, Migration> = {
  '0001_core': {
    async up(db) {
      await sql`
        CREATE TABLE domains (
          id text PRIMARY KEY CHECK (id ~ '^dom_[0-9a-z]{26}$'),
          slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'),
          name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
          status text NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          suspended_at timestamptz,
          deleted_at timestamptz
        )`.execute(db);
      // A slug is unique among live domains; a deleted domain keeps its row (and id) for the audit trail.
      await sql`CREATE UNIQUE INDEX domains_live_slug ON domains (slug) WHERE status <> 'deleted'`.execute(
        db,
      );

      await sql`
        CREATE TABLE provisioning_keys (
          id text PRIMARY KEY CHECK (id ~ '^key_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          name text,
          prefix text NOT NULL,
          hash text NOT NULL UNIQUE,
          scopes jsonb NOT NULL,
          created_at timestamptz NOT NULL,
          last_used_at timestamptz,
          expires_at timestamptz,
          revoked_at timestamptz,
          replaces_key_id text REFERENCES provisioning_keys (id)
        )`.execute(db);
      await sql`CREATE INDEX provisioning_keys_domain ON provisioning_keys (domain_id, id)`.execute(db);

      await sql`
        CREATE TABLE audit_events (
          seq bigint PRIMARY KEY CHECK (seq > 0),
          id text NOT NULL UNIQUE,
          at timestamptz NOT NULL,
          domain_id text,
          actor text NOT NULL,
          action text NOT NULL,
          target text,
          outcome text NOT NULL,
          request_id text,
          detail jsonb NOT NULL,
          prev_hash text NOT NULL,
          hash text NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX audit_events_domain ON audit_events (domain_id, seq)`.execute(db);
      await sql`CREATE INDEX audit_events_action ON audit_events (action, seq)`.execute(db);

      await sql`
        CREATE TABLE settings (
          name text PRIMARY KEY,
          value text NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
    },
  },
  '0002_resources': {
    async up(db) {
      await sql`
        CREATE TABLE pools (
          domain_id text PRIMARY KEY REFERENCES domains (id),
          quotas jsonb NOT NULL,
          updated_at timestamptz NOT NULL
        )`.execute(db);
      await sql`
        CREATE TABLE domain_keys (
          domain_id text PRIMARY KEY REFERENCES domains (id),
          wrapped_key text,
          created_at timestamptz NOT NULL,
          destroyed_at timestamptz,
          CHECK ((wrapped_key IS NULL) = (destroyed_at IS NOT NULL))
        )`.execute(db);
      await sql`
        CREATE TABLE resources (
          id text PRIMARY KEY CHECK (id ~ '^res_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          kind text NOT NULL,
          name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
          status text NOT NULL
            CHECK (status IN ('pending', 'provisioning', 'ready', 'failed', 'deprovisioning', 'deleted')),
          backend_name text NOT NULL,
          credentials text,
          idempotency_key text,
          key_id text REFERENCES provisioning_keys (id),
          error text,
          used_bytes bigint NOT NULL DEFAULT 0,
          lease_until timestamptz,
          attempts integer NOT NULL DEFAULT 0,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          ready_at timestamptz,
          deleted_at timestamptz
        )`.execute(db);
      await sql`CREATE INDEX resources_domain ON resources (domain_id, id)`.execute(db);
      await sql`CREATE INDEX resources_unsettled ON resources (status) WHERE status IN ('pending', 'provisioning', 'deprovisioning')`.execute(
        db,
      );
      await sql`CREATE UNIQUE INDEX resources_idempotency ON resources (domain_id, idempotency_key) WHERE idempotency_key IS NOT NULL`.execute(
        db,
      );
      await sql`CREATE UNIQUE INDEX resources_live_name ON resources (domain_id, kind, name) WHERE status <> 'deleted'`.execute(
        db,
      );
      // Every backend name ever handed out, kept forever: a name is never given to a second resource.
      await sql`
        CREATE TABLE backend_names (
          name text NOT NULL,
          kind text NOT NULL,
          domain_id text NOT NULL,
          resource_id text NOT NULL,
          reserved_at timestamptz NOT NULL,
          PRIMARY KEY (kind, name)
        )`.execute(db);
      // Pools for domains that existed before this migration.
      await sql`
        INSERT INTO pools (domain_id, quotas, updated_at)
        SELECT id, '{}'::jsonb, now() FROM domains`.execute(db);
    },
  },
  '0003_audit_head': {
    async up(db) {
      // The chain's head row always exists: appends lock it instead of a global advisory lock.
      await sql`
        INSERT INTO settings (name, value, updated_at)
        SELECT 'audit.head', json_build_object('seq', seq, 'hash', hash)::text, now()
        FROM audit_events ORDER BY seq DESC LIMIT 1
        ON CONFLICT (name) DO NOTHING`.execute(db);
      await sql`
        INSERT INTO settings (name, value, updated_at)
        VALUES ('audit.head', ${JSON.stringify({ seq: 0, hash: '0'.repeat(64) })}, now())
        ON CONFLICT (name) DO NOTHING`.execute(db);
    },
  },
  '0004_signing_keys': {
    async up(db) {
      await sql`
        CREATE TABLE signing_keys (
          kid text PRIMARY KEY,
          domain_id text NOT NULL REFERENCES domains (id),
          state text NOT NULL CHECK (state IN ('next', 'current', 'retired')),
          public_jwk jsonb NOT NULL,
          private_key text NOT NULL,
          created_at timestamptz NOT NULL,
          activated_at timestamptz,
          retired_at timestamptz,
          publish_until timestamptz
        )`.execute(db);
      // One current and one next key per domain at most.
      await sql`CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (domain_id, state) WHERE state <> 'retired'`.execute(
        db,
      );
    },
  },
  '0005_principals': {
    async up(db) {
      await sql`
        CREATE TABLE principals (
          id text PRIMARY KEY CHECK (id ~ '^prn_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          kind text NOT NULL CHECK (kind IN ('user', 'service')),
          email text,
          client_id text UNIQUE,
          secret_hash text NOT NULL,
          status text NOT NULL CHECK (status IN ('active', 'disabled', 'deleted')),
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          CHECK ((kind = 'user') = (email IS NOT NULL)),
          CHECK ((kind = 'service') = (client_id IS NOT NULL))
        )`.execute(db);
      await sql`CREATE UNIQUE INDEX principals_live_email ON principals (domain_id, email) WHERE status <> 'deleted'`.execute(
        db,
      );
      await sql`
        CREATE TABLE sessions (
          id text PRIMARY KEY CHECK (id ~ '^ses_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          principal_id text NOT NULL REFERENCES principals (id),
          created_at timestamptz NOT NULL,
          expires_at timestamptz NOT NULL,
          revoked_at timestamptz,
          revoke_reason text
        )`.execute(db);
      await sql`CREATE INDEX sessions_principal ON sessions (principal_id)`.execute(db);
    },
  },
  '0006_refresh_tokens': {
    async up(db) {
      // A session is a refresh-token family: every token of it names the session, and reusing a spent
      // token revokes the session with all its tokens.
      await sql`
        CREATE TABLE refresh_tokens (
          hash text PRIMARY KEY,
          session_id text NOT NULL REFERENCES sessions (id),
          created_at timestamptz NOT NULL,
          used_at timestamptz
        )`.execute(db);
      await sql`CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id)`.execute(db);
    },
  },
  '0007_cookie_sessions': {
    async up(db) {
      await sql`ALTER TABLE sessions ADD COLUMN cookie_hash text UNIQUE`.execute(db);
      await sql`ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz`.execute(db);
      await sql`ALTER TABLE sessions ADD COLUMN idle_until timestamptz`.execute(db);
    },
  },
  '0008_revocations': {
    async up(db) {
      // Every revocation, written with the change that causes it; the feed publishes them and verifiers
      // elsewhere catch up from here after a reconnect.
      await sql`
        CREATE TABLE revocations (
          seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          kind text NOT NULL CHECK (kind IN ('session', 'principal', 'domain', 'domain_restored')),
          target text NOT NULL,
          domain_id text NOT NULL,
          at timestamptz NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX revocations_at ON revocations (at)`.execute(db);
    },
  },
  '0009_row_level_security': {
    async up(db) {
      await ensureBareRole(db, appRole);
      // Refresh tokens name their domain like every other tenant table.
      await sql`ALTER TABLE refresh_tokens ADD COLUMN domain_id text REFERENCES domains (id)`.execute(db);
      await sql`
        UPDATE refresh_tokens r SET domain_id = s.domain_id FROM sessions s WHERE s.id = r.session_id`.execute(
        db,
      );
      await sql`ALTER TABLE refresh_tokens ALTER COLUMN domain_id SET NOT NULL`.execute(db);
      // domain_id leads the indexes that tenant-scoped queries use.
      await sql`CREATE INDEX refresh_tokens_domain ON refresh_tokens (domain_id, session_id)`.execute(db);
      await sql`CREATE INDEX sessions_domain ON sessions (domain_id, principal_id)`.execute(db);
      await sql`CREATE INDEX principals_domain ON principals (domain_id, id)`.execute(db);
      await sql`CREATE INDEX revocations_domain ON revocations (domain_id, seq)`.execute(db);
      await sql`CREATE INDEX backend_names_domain ON backend_names (domain_id)`.execute(db);
      await sql.raw(`GRANT USAGE ON SCHEMA public TO ${appRole}`).execute(db);
      // The tables that existed at this migration (later ones isolate their own).
      const later = ['instances', 'volumes', 'blueprints', ...isolatedOnCreation];
      for (const table of Object.keys(domainTables).filter((t) => !later.includes(t))) {
        await isolateBySetting(db, table, domainTables[table]!);
        await grantApp(db, table);
      }
      // The audit log: events of a domain are that domain's; events of no domain belong to the system
      // context. The application role may append and read, never change or remove.
      await sql`ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY`.execute(db);
      await sql`ALTER TABLE audit_events FORCE ROW LEVEL SECURITY`.execute(db);
      await sql
        .raw(
          `CREATE POLICY domain_isolation ON audit_events USING (${inScopeOrSystem('domain_id')}) WITH CHECK (${inScopeOrSystem('domain_id')})`,
        )
        .execute(db);
      await grantApp(db, 'audit_events', 'SELECT, INSERT');
      await grantApp(db, 'settings', 'SELECT, INSERT, UPDATE');
      // A server that connects as a member of the role (not the owner) still checks that the schema is up
      // to date at start; it can read the migration tables, never change them.
      await grantApp(db, 'bulkhead_migrations', 'SELECT');
      await grantApp(db, 'bulkhead_migrations_lock', 'SELECT');
      await sql.raw(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${appRole}`).execute(db);
    },
  },
  '0010_compute_and_grants': {
    async up(db) {
      // Instances and volumes. A volume's instance is named together with the volume's own domain, so the
      // database refuses an attachment across domains whatever the code above it does.
      await sql`
        CREATE TABLE instances (
          id text PRIMARY KEY CHECK (id ~ '^ins_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
          status text NOT NULL CHECK (status IN ('running', 'deleted')),
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          deleted_at timestamptz,
          UNIQUE (domain_id, id)
        )`.execute(db);
      await sql`CREATE UNIQUE INDEX instances_live_name ON instances (domain_id, name) WHERE status <> 'deleted'`.execute(
        db,
      );
      await sql`
        CREATE TABLE volumes (
          id text PRIMARY KEY CHECK (id ~ '^vol_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
          size_bytes bigint NOT NULL CHECK (size_bytes > 0),
          status text NOT NULL CHECK (status IN ('available', 'attached', 'deleting', 'deleted')),
          instance_id text,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          attached_at timestamptz,
          deleted_at timestamptz,
          FOREIGN KEY (domain_id, instance_id) REFERENCES instances (domain_id, id),
          CHECK ((status = 'attached') = (instance_id IS NOT NULL))
        )`.execute(db);
      await sql`CREATE INDEX volumes_domain ON volumes (domain_id, id)`.execute(db);
      await sql`CREATE INDEX volumes_instance ON volumes (domain_id, instance_id) WHERE instance_id IS NOT NULL`.execute(
        db,
      );
      await sql`CREATE INDEX volumes_deleting ON volumes (status) WHERE status = 'deleting'`.execute(db);
      await sql`CREATE UNIQUE INDEX volumes_live_name ON volumes (domain_id, name) WHERE status NOT IN ('deleting', 'deleted')`.execute(
        db,
      );
      for (const table of ['instances', 'volumes']) {
        await isolateBySetting(db, table, 'domain_id');
        await grantApp(db, table);
      }
      // Cross-domain grants: written by the operator only (the system context), visible to both domains.
      await sql`
        CREATE TABLE grants (
          id text PRIMARY KEY CHECK (id ~ '^grt_[0-9a-z]{26}$'),
          from_domain_id text NOT NULL REFERENCES domains (id),
          to_domain_id text NOT NULL REFERENCES domains (id),
          actions jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array' AND jsonb_array_length(actions) > 0),
          resources jsonb NOT NULL CHECK (jsonb_typeof(resources) = 'array' AND jsonb_array_length(resources) > 0),
          reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
          created_by text NOT NULL,
          created_at timestamptz NOT NULL,
          expires_at timestamptz NOT NULL,
          revoked_at timestamptz,
          CHECK (from_domain_id <> to_domain_id),
          CHECK (expires_at > created_at)
        )`.execute(db);
      await sql`CREATE INDEX grants_pair ON grants (to_domain_id, from_domain_id) WHERE revoked_at IS NULL`.execute(
        db,
      );
      await sql`ALTER TABLE grants ENABLE ROW LEVEL SECURITY`.execute(db);
      await sql`ALTER TABLE grants FORCE ROW LEVEL SECURITY`.execute(db);
      const system = `(SELECT current_setting('bulkhead.system', true)) = 'on'`;
      const party = `(SELECT current_setting('bulkhead.domain_id', true))`;
      await sql
        .raw(
          `CREATE POLICY grant_parties ON grants USING (${system} OR from_domain_id = ${party} OR to_domain_id = ${party}) WITH CHECK (${system})`,
        )
        .execute(db);
      await grantApp(db, 'grants', 'SELECT, INSERT, UPDATE');
    },
  },
  '0011_blueprints': {
    async up(db) {
      // A blueprint provisions a set of resources as one saga: all ready, or every step undone.
      await sql`
        CREATE TABLE blueprints (
          id text PRIMARY KEY CHECK (id ~ '^bpr_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
          status text NOT NULL CHECK (status IN ('provisioning', 'ready', 'rolling_back', 'rolled_back')),
          spec jsonb NOT NULL,
          error text,
          lease_until timestamptz,
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          UNIQUE (domain_id, id)
        )`.execute(db);
      await sql`CREATE INDEX blueprints_domain ON blueprints (domain_id, id)`.execute(db);
      await sql`CREATE INDEX blueprints_unsettled ON blueprints (status) WHERE status IN ('provisioning', 'rolling_back')`.execute(
        db,
      );
      await sql`ALTER TABLE resources ADD COLUMN blueprint_id text`.execute(db);
      await sql`ALTER TABLE resources ADD FOREIGN KEY (domain_id, blueprint_id) REFERENCES blueprints (domain_id, id)`.execute(
        db,
      );
      await sql`CREATE INDEX resources_blueprint ON resources (domain_id, blueprint_id) WHERE blueprint_id IS NOT NULL`.execute(
        db,
      );
      await isolateBySetting(db, 'blueprints', 'domain_id');
      await grantApp(db, 'blueprints');
    },
  },
  '0012_system_role': {
    async up(db) {
      // The system context becomes a role of its own, entered per transaction with SET LOCAL ROLE. The
      // application role may switch to it but never holds its policies by inheritance (NOINHERIT), so
      // the application role's policy is one equality on the domain id, with no system branch for the
      // planner to reckon with.
      await ensureBareRole(db, appRole, 'NOINHERIT');
      await ensureBareRole(db, systemRole, 'NOINHERIT');
      await sql.raw(`GRANT ${systemRole} TO ${appRole}`).execute(db);
      await sql.raw(`GRANT USAGE ON SCHEMA public TO ${systemRole}`).execute(db);
      // The system role gets exactly the application role's privileges, table by table.
      await sql
        .raw(
          `DO $$ DECLARE r record; BEGIN
             FOR r IN
               SELECT c.relname, c.relkind, string_agg(a.privilege_type, ', ') AS privileges
               FROM pg_class c, aclexplode(c.relacl) a
               WHERE c.relnamespace = 'public'::regnamespace AND a.grantee = '${appRole}'::regrole
               GROUP BY c.relname, c.relkind
             LOOP
               EXECUTE format('GRANT %s ON %s %I TO ${systemRole}', r.privileges,
                 CASE WHEN r.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.relname);
             END LOOP;
           END $$`,
        )
        .execute(db);
      for (const [table, column] of Object.entries(domainTables)) {
        if (isolatedOnCreation.includes(table)) continue;
        await sql.raw(`DROP POLICY domain_isolation ON ${table}`).execute(db);
        await isolate(db, table, column);
      }
      await sql`DROP POLICY domain_isolation ON audit_events`.execute(db);
      await isolate(db, 'audit_events', 'domain_id');
      // Grants: visible to both parties, written only in the system context.
      await sql`DROP POLICY grant_parties ON grants`.execute(db);
      const party = `(SELECT current_setting('bulkhead.domain_id', true))`;
      await isolate(db, 'grants', 'from_domain_id', {
        using: `from_domain_id = ${party} OR to_domain_id = ${party}`,
        check: 'false',
      });
    },
  },
  '0013_verify_runs': {
    async up(db) {
      // The results of isolation runs (`bulkhead verify`, scheduled or not). They belong to no domain: the
      // system context alone sees and writes them: it may add and read runs, and remove the oldest ones; a
      // result is never changed once written.
      await sql`
        CREATE TABLE verify_runs (
          id text PRIMARY KEY CHECK (id ~ '^vrn_[0-9a-z]{26}$'),
          started_at timestamptz NOT NULL,
          finished_at timestamptz NOT NULL,
          target text NOT NULL CHECK (length(target) BETWEEN 1 AND 2048),
          verdict text NOT NULL CHECK (verdict IN ('clean', 'leak', 'incomplete', 'error')),
          operations integer NOT NULL CHECK (operations >= 0),
          exercised integer NOT NULL CHECK (exercised >= 0),
          unexercised integer NOT NULL CHECK (unexercised >= 0),
          checks integer NOT NULL CHECK (checks >= 0),
          leaks integer NOT NULL CHECK (leaks >= 0),
          inconclusive integer NOT NULL CHECK (inconclusive >= 0),
          error text CHECK (length(error) <= 2000),
          report jsonb CHECK (report IS NULL OR jsonb_typeof(report) = 'object'),
          CHECK (finished_at >= started_at),
          CHECK ((verdict = 'error') = (error IS NOT NULL))
        )`.execute(db);
      // Ids begin with the start time: the primary key orders runs, newest last.
      // No row belongs to a domain: the application role's policy admits none and refuses every write.
      await isolate(db, 'verify_runs', 'id', { using: 'false', check: 'false' });
      await grantApp(db, 'verify_runs', 'SELECT, INSERT, DELETE');
    },
  },
  '0014_principal_roles': {
    async up(db) {
      // A domain's admins manage its principals and sessions themselves; everyone else is a member.
      // Existing principals become members: nobody gains a right by this migration.
      await sql`
        ALTER TABLE principals
          ADD COLUMN role text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin'))`.execute(db);
    },
  },
  '0015_quota_reservations': {
    async up(db) {
      // Bytes an object write in flight may still add to its domain's storage. Taken before the write,
      // with the domain's row locked, and given up when the write ends; a lease the writer renews, so a
      // reservation whose process died is released by the reconciler.
      await sql`
        CREATE TABLE storage_reservations (
          id text PRIMARY KEY CHECK (id ~ '^[0-9a-f-]{36}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          resource_id text NOT NULL REFERENCES resources (id),
          bytes bigint NOT NULL CHECK (bytes >= 0),
          created_at timestamptz NOT NULL,
          lease_until timestamptz NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX storage_reservations_domain ON storage_reservations (domain_id)`.execute(db);
      await sql`CREATE INDEX storage_reservations_lease ON storage_reservations (lease_until)`.execute(db);
      await isolate(db, 'storage_reservations', 'domain_id');
      await grantApp(db, 'storage_reservations');
      // A deleted volume is zeroed by a background worker; its lease keeps two processes off one volume.
      await sql`ALTER TABLE volumes ADD COLUMN lease_until timestamptz`.execute(db);
    },
  },
  '0016_resource_backends': {
    async up(db) {
      // Where each resource lives, recorded when it is created: the provider's backend type
      // (`postgres-server`, `postgres-embedded`, …) and location (host:port and mode, or a directory). A
      // server configured for another backend then refuses to touch it instead of deleting nothing and
      // calling it deleted. Rows from before this migration have neither: where they live is unknown,
      // and they are taken to live on whatever the server is configured for, as before.
      await sql`
        ALTER TABLE resources
          ADD COLUMN backend text,
          ADD COLUMN backend_location text,
          ADD CONSTRAINT resources_backend_whole CHECK ((backend IS NULL) = (backend_location IS NULL))`.execute(
        db,
      );
      // A create the backend refused before it made anything (an unsafe server, no connection) leaves a
      // failed resource that holds nothing there: it keeps neither its name nor a place in the quota,
      // so the same create can be made again once the cause is fixed.
      await sql`ALTER TABLE resources ADD COLUMN refused boolean NOT NULL DEFAULT false`.execute(db);
      await sql`
        ALTER TABLE resources ADD CONSTRAINT resources_refused_failed CHECK (NOT refused OR status IN ('failed', 'deprovisioning', 'deleted'))`.execute(
        db,
      );
      await sql`DROP INDEX resources_live_name`.execute(db);
      await sql`CREATE UNIQUE INDEX resources_live_name ON resources (domain_id, kind, name) WHERE status <> 'deleted' AND NOT refused`.execute(
        db,
      );
    },
  },
  '0017_system_login': {
    async up(db) {
      // The system context gets a door of its own: a login that is a member of the system role (or the
      // owner), on a pool of its own. The application role may no longer switch to it, so SQL injected
      // into a domain's transaction cannot reach every domain's rows. The roles belong to the whole
      // PostgreSQL server: from here on, a server of an earlier version that reaches the system role
      // through the application role's membership loses it, in every Bulkhead database on the server
      // (docs/operating.md, the upgrade order).
      await sql.raw(revokeSystemFromApp).execute(db);
    },
  },
  '0018_audit_chains': {
    async up(db) {
      // One hash chain per domain, and one for the events of no domain (`system`), each under its own head
      // row: a domain's events are appended one at a time, and two domains' events in parallel. The one
      // global chain so far ends where it is (its head becomes `audit.cutover`), and every new chain
      // starts linked to that head, so the events written before keep verifying as they were. The global
      // `seq` goes on from there as a sequence, taken while the chain's head is held: it orders the log for
      // listing and orders each chain, with gaps where a transaction rolled back.
      await sql`
        CREATE TABLE audit_heads (
          chain text PRIMARY KEY CHECK (chain = coalesce(domain_id, 'system')),
          domain_id text,
          seq bigint NOT NULL CHECK (seq >= 0),
          hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
        )`.execute(db);
      // A domain reaches its own head only; the head of the events of no domain, the system context only.
      await isolate(db, 'audit_heads', 'domain_id');
      await grantApp(db, 'audit_heads', 'SELECT, INSERT, UPDATE');
      await sql`CREATE SEQUENCE audit_event_seq AS bigint MINVALUE 1`.execute(db);
      await sql.raw(`GRANT USAGE ON SEQUENCE audit_event_seq TO ${appRole}`).execute(db);
      if (await roleExists(db, systemRole)) {
        await sql.raw(`GRANT USAGE ON SEQUENCE audit_event_seq TO ${systemRole}`).execute(db);
      }
      // The old head is renamed, not kept: a server of an earlier version that is still running cannot
      // append to the old chain any more (its statement finds no head and fails) instead of forking it.
      await cutOverSingleChain(db);
    },
  },
  '0019_signed_scope': {
    async up(db) {
      // Any session may set a custom setting, so a domain id in a setting is a claim anyone can make:
      // SQL injected into A's transaction could name B. From here on a transaction enters its domain
      // through `scope_enter(token)`, whose token is the domain id and an HMAC-SHA-256, under a key that
      // lives in this database where the application role cannot read it, of the whole message that
      // carries it: a token is good for that one message only, so one read off another connection
      // (pg_stat_activity shows every session's last message to the sessions of the same login) opens
      // nothing. `scope_enter` leaves in the setting the domain id with a MAC of the id, the server
      // session and the transaction's start, which `scope_domain()` checks for every statement: the
      // policies see the domain it answers, or none (NULL) for anything else.
      await sql`CREATE EXTENSION IF NOT EXISTS pgcrypto`.execute(db);
      const crypto = await pgcryptoSchema(db);
      await sql`
        CREATE TABLE scope_keys (
          id integer PRIMARY KEY CHECK (id = 1),
          key bytea NOT NULL CHECK (length(key) = 32),
          created_at timestamptz NOT NULL DEFAULT now()
        )`.execute(db);
      await sql
        .raw(`INSERT INTO scope_keys (id, key) VALUES (1, ${crypto}.gen_random_bytes(32))`)
        .execute(db);
      // The system role reads the key (the server fetches it at start through the system context); the
      // application role gets nothing, and a grant made by mistake would still show it no row.
      await sql`REVOKE ALL ON scope_keys FROM PUBLIC`.execute(db);
      await sql.raw(`GRANT SELECT ON scope_keys TO ${systemRole}`).execute(db);
      await sql`ALTER TABLE scope_keys ENABLE ROW LEVEL SECURITY`.execute(db);
      await sql`ALTER TABLE scope_keys FORCE ROW LEVEL SECURITY`.execute(db);
      await sql
        .raw(`CREATE POLICY system_reads ON scope_keys FOR SELECT TO ${systemRole} USING (true)`)
        .execute(db);
      await sql`CREATE POLICY owner_reads ON scope_keys FOR SELECT TO CURRENT_USER USING (true)`.execute(db);
      // A domain id, a dot and 64 hex digits (what the MAC covers is checked by the MAC): plain string
      // functions, as a regular expression costs ten times the rest of the check.
      const wellFormed = (v: string) =>
        `(length(${v}) = 95 AND left(${v}, 4) = 'dom_' AND substr(${v}, 31, 1) = '.' ` +
        `AND translate(substr(${v}, 32), '0123456789abcdef', '') = '')`;
      // What binds a verified scope to one transaction of one server session: a pooler may hand the next
      // transaction to any session, but a transaction stays on its own.
      const here = `convert_to(domain || ':' || pg_backend_pid() || ':' || (extract(epoch FROM transaction_timestamp()) * 1000000)::bigint, 'UTF8')`;
      // Both functions are owned by the owner and run with its rights (the key), on a pinned search path
      // with every name of Bulkhead's and pgcrypto's qualified. `scope_enter` compares MACs after one
      // more HMAC, so the comparison's time says nothing about the expected one (a message's MAC stays
      // the same while a transaction tries token after token). PARALLEL RESTRICTED: a function with a SET
      // clause runs in the leader.
      await sql
        .raw(
          `CREATE FUNCTION public.scope_enter(token text) RETURNS void
             LANGUAGE plpgsql VOLATILE SECURITY DEFINER PARALLEL RESTRICTED
             SET search_path = pg_catalog, pg_temp
           AS $fn$
           DECLARE
             domain text := split_part(token, '.', 1);
             secret bytea;
           BEGIN
             IF NOT coalesce(${wellFormed('token')}, false) THEN
               RAISE EXCEPTION 'this scope was not signed for this message' USING ERRCODE = 'insufficient_privilege';
             END IF;
             SELECT k.key INTO secret FROM public.scope_keys k WHERE k.id = 1;
             -- The message as the server signed it: with the MAC's place written as zeros.
             IF secret IS NULL
                OR ${crypto}.hmac(decode(split_part(token, '.', 2), 'hex'), secret, 'sha256')
                   <> ${crypto}.hmac(${crypto}.hmac(convert_to(replace(current_query(), token, domain || '.' || repeat('0', 64)), 'UTF8'),
                                                    secret, 'sha256'), secret, 'sha256') THEN
               RAISE EXCEPTION 'this scope was not signed for this message' USING ERRCODE = 'insufficient_privilege';
             END IF;
             PERFORM set_config('bulkhead.domain_id',
               domain || '.' || encode(${crypto}.hmac(${here}, secret, 'sha256'), 'hex'), true);
           END
           $fn$`,
        )
        .execute(db);
      // STABLE and called as a sub-select: one evaluation per statement (an init plan).
      await sql
        .raw(
          `CREATE FUNCTION public.scope_domain() RETURNS text
             LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
             SET search_path = pg_catalog, pg_temp
           AS $fn$
           DECLARE
             scope text := current_setting('bulkhead.domain_id', true);
             domain text := split_part(scope, '.', 1);
             secret bytea;
           BEGIN
             IF NOT coalesce(${wellFormed('scope')}, false) THEN
               RETURN NULL;
             END IF;
             SELECT k.key INTO secret FROM public.scope_keys k WHERE k.id = 1;
             -- One HMAC and a plain comparison, as this runs for every statement: the value compared
             -- with is good for one transaction of one server session only, and what a comparison's
             -- time could tell (nanoseconds) drowns in the call's own (microseconds).
             IF secret IS NOT NULL
                AND ${crypto}.hmac(${here}, secret, 'sha256') = decode(split_part(scope, '.', 2), 'hex') THEN
               RETURN domain;
             END IF;
             RETURN NULL;
           END
           $fn$`,
        )
        .execute(db);
      await sql`REVOKE ALL ON FUNCTION public.scope_enter(text) FROM PUBLIC`.execute(db);
      await sql.raw(`GRANT EXECUTE ON FUNCTION public.scope_enter(text) TO ${appRole}`).execute(db);
      await sql`REVOKE ALL ON FUNCTION public.scope_domain() FROM PUBLIC`.execute(db);
      await sql
        .raw(`GRANT EXECUTE ON FUNCTION public.scope_domain() TO ${appRole}, ${systemRole}`)
        .execute(db);
      // Every policy that read the setting itself reads the verified domain instead, whichever migration
      // made it; none may be left.
      await sql
        .raw(
          `DO $$ DECLARE p record; setting text := $s$current_setting('bulkhead.domain_id'::text, true)$s$;
           BEGIN
             FOR p IN
               SELECT schemaname, tablename, policyname, qual, with_check FROM pg_policies
               WHERE schemaname = 'public'
                 AND (qual LIKE '%bulkhead.domain_id%' OR with_check LIKE '%bulkhead.domain_id%')
             LOOP
               EXECUTE format('ALTER POLICY %I ON %I.%I', p.policyname, p.schemaname, p.tablename)
                 || CASE WHEN p.qual IS NULL THEN ''
                    ELSE format(' USING (%s)', replace(p.qual, setting, 'public.scope_domain()')) END
                 || CASE WHEN p.with_check IS NULL THEN ''
                    ELSE format(' WITH CHECK (%s)', replace(p.with_check, setting, 'public.scope_domain()')) END;
             END LOOP;
             IF EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'public'
                        AND (qual LIKE '%bulkhead.domain_id%' OR with_check LIKE '%bulkhead.domain_id%')) THEN
               RAISE EXCEPTION 'a policy still reads bulkhead.domain_id unverified';
             END IF;
           END $$`,
        )
        .execute(db);
    },
  },
  '0020_compute_scopes': {
    async up(db) {
      await sql.raw(widenDefaultKeyScopes).execute(db);
    },
  },
  '0021_cheaper_scope': {
    async up(db) {
      // The same checks as 0019, for the same guarantee, at a fraction of the cost (measured in
      // docs/benchmarks.md): `scope_domain()` runs for every statement and the scope's entry for every
      // transaction, so what each spends beside its HMAC is what a scoped read pays.
      // - The key is read once per server session, not once per call: `scope_key()` is declared
      //   IMMUTABLE, so the planner runs it while it plans the functions' expressions, and the key stays a
      //   constant in their cached plans, in the session's memory, which no SQL of the application role
      //   reaches. It may run it itself only to be refused (it has no EXECUTE on it, nor any privilege on
      //   the table). The key never changes (nothing updates `scope_keys`); a session that saw one keeps
      //   it.
      // - The entry is a procedure, `CALL public.scope_open(token)`: a CALL skips the planner that a
      //   `SELECT` of a function goes through. `scope_enter(token)` stays, a function that calls it, for a
      //   server of 0019–0020 still running (the same check: the message is the one it runs in).
      // - No `SET search_path` clause: it saves and restores the setting and recomputes the search path
      //   twice per call. Instead every name is qualified — functions, operators and types in pg_catalog,
      //   tables in public, pgcrypto's in its schema — so the caller's search path decides nothing (the
      //   temporary schema is searched for tables and types only, and none is named unqualified).
      // - The entry computes two HMACs instead of four: the message's, compared after SHA-256 of both
      //   sides (so the comparison's time tells at most a prefix of a digest of the expected MAC, from
      //   which the MAC cannot be found), and the scope value's.
      // - The scope value's MAC covers the domain id, the server session and the transaction's start in
      //   binary (`int4send`, `timestamptz_send`) instead of as text through a numeric epoch.
      // - Each function evaluates two PL/pgSQL expressions, each set up anew in every transaction.
      // PARALLEL RESTRICTED stays: `pg_backend_pid()` in a parallel worker is the worker's.
      const crypto = await pgcryptoSchema(db);
      const op = (o: string) => `OPERATOR(pg_catalog.${o})`;
      await sql`
        CREATE FUNCTION public.scope_key() RETURNS pg_catalog.bytea
          LANGUAGE sql IMMUTABLE PARALLEL RESTRICTED
        AS $fn$ SELECT k.key FROM public.scope_keys k WHERE k.id OPERATOR(pg_catalog.=) 1 $fn$`.execute(db);
      await sql`REVOKE ALL ON FUNCTION public.scope_key() FROM PUBLIC`.execute(db);
      // A domain id, a dot and 64 hex digits: plain string functions, as in 0019.
      const wellFormed = (v: string) =>
        `pg_catalog.length(${v}) ${op('=')} 95 AND pg_catalog.left(${v}, 4) ${op('=')} 'dom_' ` +
        `AND pg_catalog.substr(${v}, 31, 1) ${op('=')} '.' ` +
        `AND pg_catalog.translate(pg_catalog.substr(${v}, 32), '0123456789abcdef', '') ${op('=')} ''`;
      const here = (domain: string) =>
        `pg_catalog.convert_to(${domain}, 'UTF8') ${op('||')} pg_catalog.int4send(pg_catalog.pg_backend_pid()) ` +
        `${op('||')} pg_catalog.timestamptz_send(pg_catalog.transaction_timestamp())`;
      // A missing key makes the HMAC NULL, which equals nothing.
      const mac = (data: string) => `${crypto}.hmac(${data}, public.scope_key(), 'sha256')`;
      const domain = 'pg_catalog.left(token, 30)';
      // The message as the server signed it: with the MAC's place written as zeros. The CASE keeps
      // `decode` off a token that is not hex.
      const signed =
        `CASE WHEN ${wellFormed('token')} THEN ` +
        `pg_catalog.sha256(pg_catalog.decode(pg_catalog.substr(token, 32), 'hex')) ${op('=')} pg_catalog.sha256(${mac(
          `pg_catalog.convert_to(pg_catalog.replace(pg_catalog.current_query(), token, ${domain} ${op('||')} '.${'0'.repeat(64)}'), 'UTF8')`,
        )}) END`;
      await sql
        .raw(
          `CREATE PROCEDURE public.scope_open(token pg_catalog.text)
             LANGUAGE plpgsql SECURITY DEFINER
           AS $fn$
           BEGIN
             IF NOT coalesce(${signed}, false) THEN
               RAISE EXCEPTION 'this scope was not signed for this message' USING ERRCODE = 'insufficient_privilege';
             END IF;
             PERFORM pg_catalog.set_config('bulkhead.domain_id',
               ${domain} ${op('||')} '.' ${op('||')} pg_catalog.encode(${mac(here(domain))}, 'hex'), true);
           END
           $fn$`,
        )
        .execute(db);
      await sql`REVOKE ALL ON PROCEDURE public.scope_open(text) FROM PUBLIC`.execute(db);
      await sql.raw(`GRANT EXECUTE ON PROCEDURE public.scope_open(text) TO ${appRole}`).execute(db);
      // Its own rights are none: the procedure it calls has the owner's.
      await sql`
        CREATE OR REPLACE FUNCTION public.scope_enter(token pg_catalog.text) RETURNS void
          LANGUAGE plpgsql VOLATILE SECURITY INVOKER PARALLEL RESTRICTED
        AS $fn$ BEGIN CALL public.scope_open(token); END $fn$`.execute(db);
      // A plain comparison, as in 0019: the value compared with is good for one transaction of one server
      // session only. It compares hex text, so a value of any other form just differs (no `decode` to
      // fail, no check of the form first): the domain answered is the prefix the MAC covers.
      await sql
        .raw(
          `CREATE OR REPLACE FUNCTION public.scope_domain() RETURNS pg_catalog.text
             LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
           AS $fn$
           DECLARE
             scope pg_catalog.text := pg_catalog.current_setting('bulkhead.domain_id', true);
           BEGIN
             RETURN CASE WHEN pg_catalog.encode(${mac(here('pg_catalog.left(scope, 30)'))}, 'hex')
                              ${op('=')} pg_catalog.substr(scope, 32)
               THEN pg_catalog.left(scope, 30) END;
           END
           $fn$`,
        )
        .execute(db);
    },
  },
  '0022_billing': {
    async up(db) {
      // Billing (docs/billing.md). Every table that holds a domain's usage, prices or invoices carries its
      // domain and is isolated like the others; the price book itself belongs to no domain and is the
      // system context's alone. What the database enforces: usage is append-only and counted once per
      // (domain, event id); a domain has one invoice per period and numbers its own; an invoice's content
      // (number, period, amounts, lines) can never be changed by the application role, only its status.
      const meter = `CHECK (meter ~ '^[a-z][a-z0-9_.-]{0,62}$')`;
      await sql
        .raw(
          `CREATE TABLE usage_records (
             domain_id text NOT NULL REFERENCES domains (id),
             event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
             meter text NOT NULL ${meter},
             quantity bigint NOT NULL CHECK (quantity >= 0),
             at timestamptz NOT NULL,
             recorded_at timestamptz NOT NULL,
             source text NOT NULL CHECK (source IN ('api', 'resources')),
             PRIMARY KEY (domain_id, event_id)
           )`,
        )
        .execute(db);
      await sql`CREATE INDEX usage_records_domain_at ON usage_records (domain_id, at)`.execute(db);
      await isolate(db, 'usage_records', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'usage_records', 'SELECT, INSERT');
      // The price book: a meter's price is `unit_price` minor units per `per` units, after `included`
      // units free per domain and period. The currency is one for the whole book (the setting
      // `billing.currency`). It belongs to no domain and says nothing of any: a domain's transaction may
      // read it (to check a meter as it records usage) and never write it; the system context writes it.
      await sql
        .raw(
          `CREATE TABLE billing_meters (
             meter text PRIMARY KEY ${meter},
             unit text NOT NULL CHECK (length(unit) BETWEEN 1 AND 32),
             unit_price bigint NOT NULL CHECK (unit_price >= 0),
             per bigint NOT NULL CHECK (per >= 1),
             included bigint NOT NULL CHECK (included >= 0),
             updated_at timestamptz NOT NULL
           )`,
        )
        .execute(db);
      await isolate(db, 'billing_meters', 'meter', { using: 'true', check: 'false' });
      await grantApp(db, 'billing_meters', 'SELECT, INSERT, UPDATE, DELETE');
      await sql
        .raw(
          `CREATE TABLE price_overrides (
             domain_id text NOT NULL REFERENCES domains (id),
             meter text NOT NULL REFERENCES billing_meters (meter) ON DELETE CASCADE,
             unit_price bigint NOT NULL CHECK (unit_price >= 0),
             per bigint NOT NULL CHECK (per >= 1),
             included bigint NOT NULL CHECK (included >= 0),
             PRIMARY KEY (domain_id, meter)
           )`,
        )
        .execute(db);
      await isolate(db, 'price_overrides', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'price_overrides', 'SELECT, INSERT, UPDATE, DELETE');
      await sql`
        CREATE TABLE invoices (
          id text PRIMARY KEY CHECK (id ~ '^inv_[0-9a-z]{26}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          number integer NOT NULL CHECK (number >= 1),
          period text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
          currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
          subtotal bigint NOT NULL CHECK (subtotal >= 0),
          total bigint NOT NULL CHECK (total >= 0),
          content_hash text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
          closed_at timestamptz NOT NULL,
          status text NOT NULL CHECK (status IN ('open', 'paid', 'void', 'uncollectible')),
          status_changed_at timestamptz,
          payment_reference text CHECK (length(payment_reference) BETWEEN 1 AND 200),
          UNIQUE (domain_id, period),
          UNIQUE (domain_id, number)
        )`.execute(db);
      await isolate(db, 'invoices', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'invoices', 'SELECT, INSERT');
      await grantApp(db, 'invoices', 'UPDATE (status, status_changed_at, payment_reference)');
      await sql`
        CREATE TABLE invoice_lines (
          invoice_id text NOT NULL REFERENCES invoices (id),
          domain_id text NOT NULL REFERENCES domains (id),
          position integer NOT NULL CHECK (position >= 1),
          meter text NOT NULL,
          unit text NOT NULL,
          quantity bigint NOT NULL CHECK (quantity >= 0),
          included bigint NOT NULL CHECK (included >= 0),
          billable bigint NOT NULL CHECK (billable >= 0),
          unit_price bigint NOT NULL CHECK (unit_price >= 0),
          per bigint NOT NULL CHECK (per >= 1),
          amount bigint NOT NULL CHECK (amount >= 0),
          PRIMARY KEY (invoice_id, position)
        )`.execute(db);
      await sql`CREATE INDEX invoice_lines_domain ON invoice_lines (domain_id)`.execute(db);
      await isolate(db, 'invoice_lines', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'invoice_lines', 'SELECT, INSERT');
    },
  },
  '0023_billing_details': {
    async up(db) {
      // A domain's billing details, printed on its invoices: one row per domain, its own, isolated like
      // every billing table. The API checks each field precisely; the checks here are the backstop.
      await sql`
        CREATE TABLE billing_details (
          domain_id text PRIMARY KEY REFERENCES domains (id),
          name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
          address_lines jsonb NOT NULL CHECK (
            jsonb_typeof(address_lines) = 'array' AND jsonb_array_length(address_lines) BETWEEN 1 AND 4),
          city text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
          postal_code text NOT NULL CHECK (length(postal_code) BETWEEN 1 AND 20),
          country text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
          email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
          tax_id text CHECK (length(tax_id) BETWEEN 1 AND 32),
          updated_at timestamptz NOT NULL
        )`.execute(db);
      await isolate(db, 'billing_details', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'billing_details', 'SELECT, INSERT, UPDATE');
      // Usage Bulkhead meters itself as the server runs: API requests and stored bytes.
      await sql`ALTER TABLE usage_records DROP CONSTRAINT usage_records_source_check`.execute(db);
      await sql`
        ALTER TABLE usage_records ADD CONSTRAINT usage_records_source_check
          CHECK (source IN ('api', 'resources', 'requests', 'storage'))`.execute(db);
    },
  },
  '0024_payments': {
    async up(db) {
      // Payments through Stripe (docs/billing.md). Bulkhead keeps Stripe's ids only, never card data:
      // each domain's own customer (one per domain, never another's: both columns unique), the payment
      // attempts made for an invoice, and the webhook events handled (once each: the event id is the key).
      // Every row carries its domain and is isolated like the other billing tables.
      await sql`
        CREATE TABLE stripe_customers (
          domain_id text PRIMARY KEY REFERENCES domains (id),
          customer_id text NOT NULL UNIQUE CHECK (customer_id ~ '^cus_[0-9A-Za-z]{1,250}$'),
          created_at timestamptz NOT NULL,
          deleted_at timestamptz
        )`.execute(db);
      await isolate(db, 'stripe_customers', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'stripe_customers', 'SELECT, INSERT');
      await grantApp(db, 'stripe_customers', 'UPDATE (deleted_at)');
      await sql`
        CREATE TABLE invoice_payments (
          invoice_id text NOT NULL REFERENCES invoices (id),
          attempt integer NOT NULL CHECK (attempt >= 1),
          domain_id text NOT NULL REFERENCES domains (id),
          idempotency_key text NOT NULL UNIQUE,
          payment_intent_id text UNIQUE CHECK (payment_intent_id ~ '^pi_[0-9A-Za-z]{1,250}$'),
          status text NOT NULL CHECK (status IN ('pending', 'processing', 'succeeded', 'failed')),
          failure_code text CHECK (length(failure_code) BETWEEN 1 AND 200),
          created_at timestamptz NOT NULL,
          updated_at timestamptz NOT NULL,
          PRIMARY KEY (invoice_id, attempt)
        )`.execute(db);
      await sql`CREATE INDEX invoice_payments_domain ON invoice_payments (domain_id)`.execute(db);
      await isolate(db, 'invoice_payments', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'invoice_payments', 'SELECT, INSERT');
      await grantApp(db, 'invoice_payments', 'UPDATE (payment_intent_id, status, failure_code, updated_at)');
      await sql`
        CREATE TABLE stripe_events (
          event_id text PRIMARY KEY CHECK (event_id ~ '^evt_[0-9A-Za-z]{1,250}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          type text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
          received_at timestamptz NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX stripe_events_domain ON stripe_events (domain_id)`.execute(db);
      await isolate(db, 'stripe_events', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'stripe_events', 'SELECT, INSERT');
      // Why a domain is suspended: `billing` (non-payment) is lifted when its invoices are paid; any
      // other reason only by the operator. NULL for suspensions made before, which payment never lifts.
      await sql`
        ALTER TABLE domains ADD COLUMN suspend_reason text
          CHECK (suspend_reason ~ '^[a-z][a-z0-9_-]{0,31}$')`.execute(db);
    },
  },
  '0025_invoice_retention': {
    async up(db) {
      // A deleted domain's invoices are kept for the retention period (BULKHEAD_INVOICE_RETENTION), then
      // purged with their lines and payment attempts (docs/billing.md#retention). The application may
      // delete them, but the database lets it delete only the rows of a domain that is deleted: a live
      // domain's invoice stays as immutable as before. The check reads the domain's own row, which the
      // domain's transaction sees.
      const ofDeletedDomain = (table: string) =>
        `EXISTS (SELECT 1 FROM domains d WHERE d.id = ${table}.domain_id AND d.status = 'deleted')`;
      for (const table of ['invoice_payments', 'invoice_lines', 'invoices']) {
        await grantApp(db, table, 'DELETE');
        await sql
          .raw(
            `CREATE POLICY deleted_domain_only ON ${table} AS RESTRICTIVE FOR DELETE USING (${ofDeletedDomain(table)})`,
          )
          .execute(db);
      }
    },
  },
  '0026_portal': {
    async up(db) {
      // The white-label portal (docs/portal.md). A host names at most one domain: the primary key is the
      // host in its normal form (IDNA, lowercase, no trailing dot), so two spellings of one host are one
      // row. A domain's branding is one row of its own, its logo kept here in base64 (256 KiB at most, the
      // same text on both stores) and served by Bulkhead. A portal session remembers the host it was opened on, and only that host
      // accepts its cookie.
      await sql`
        CREATE TABLE portal_hosts (
          host text PRIMARY KEY CHECK (host ~ '^[a-z0-9][a-z0-9.-]{0,252}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          created_at timestamptz NOT NULL
        )`.execute(db);
      await sql`CREATE INDEX portal_hosts_domain ON portal_hosts (domain_id)`.execute(db);
      await isolate(db, 'portal_hosts', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'portal_hosts', 'SELECT, INSERT, DELETE');
      await sql`
        CREATE TABLE portal_branding (
          domain_id text PRIMARY KEY REFERENCES domains (id),
          display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
          primary_color text NOT NULL CHECK (primary_color ~ '^#[0-9a-f]{6}$'),
          accent_color text NOT NULL CHECK (accent_color ~ '^#[0-9a-f]{6}$'),
          support_email text CHECK (length(support_email) BETWEEN 3 AND 254),
          support_url text CHECK (support_url ~ '^https://' AND length(support_url) <= 500),
          logo text CHECK (logo ~ '^[A-Za-z0-9+/]+=*$' AND length(logo) <= 349528),
          logo_type text CHECK (logo_type IN ('image/png', 'image/jpeg', 'image/webp')),
          logo_hash text CHECK (logo_hash ~ '^[0-9a-f]{64}$'),
          updated_at timestamptz NOT NULL,
          CHECK ((logo IS NULL) = (logo_type IS NULL) AND (logo IS NULL) = (logo_hash IS NULL))
        )`.execute(db);
      await isolate(db, 'portal_branding', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'portal_branding', 'SELECT, INSERT, UPDATE');
      await sql`
        ALTER TABLE sessions ADD COLUMN portal_host text
          CHECK (portal_host ~ '^[a-z0-9][a-z0-9.-]{0,252}$')`.execute(db);
    },
  },
  '0027_oauth_clients': {
    async up(db) {
      // Each domain's OAuth clients (docs/identity.md, "OAuth clients"): registered by the operator or the
      // domain's admins, each of exactly one domain and isolated like every tenant table. A confidential
      // client's secret is stored only as a hash; a public one has none. Redirect URIs, grants, scopes
      // and origins are compared exactly, so they are kept as given (JSON arrays, checked by the API).
      await sql`
        CREATE TABLE oauth_clients (
          id text PRIMARY KEY,
          domain_id text NOT NULL REFERENCES domains (id),
          client_id text NOT NULL UNIQUE CHECK (client_id ~ '^bho_[0-9a-f]{32}$'),
          name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
          kind text NOT NULL CHECK (kind IN ('confidential', 'public')),
          secret_hash text,
          auth_method text NOT NULL
            CHECK (auth_method IN ('client_secret_basic', 'client_secret_post', 'none')),
          redirect_uris jsonb NOT NULL CHECK (jsonb_typeof(redirect_uris) = 'array'),
          grant_types jsonb NOT NULL CHECK (jsonb_typeof(grant_types) = 'array'),
          scopes jsonb NOT NULL CHECK (jsonb_typeof(scopes) = 'array'),
          allowed_origins jsonb NOT NULL CHECK (jsonb_typeof(allowed_origins) = 'array'),
          created_at timestamptz NOT NULL,
          deleted_at timestamptz,
          CHECK ((kind = 'public') = (secret_hash IS NULL)),
          CHECK ((kind = 'public') = (auth_method = 'none'))
        )`.execute(db);
      await sql`CREATE INDEX oauth_clients_domain ON oauth_clients (domain_id)`.execute(db);
      await isolate(db, 'oauth_clients', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'oauth_clients', 'SELECT, INSERT');
      await grantApp(db, 'oauth_clients', 'UPDATE (deleted_at)');
    },
  },
  '0028_domain_purge': {
    async up(db) {
      // Deleting a domain removes everything it owned (docs/operating.md, "Deleting a domain"): the
      // reconciler empties its backends, then deletes its rows, keeping only its audit trail, its
      // invoices with what they print, and the record that its data key was destroyed. When that was
      // done; NULL while something of it remains.
      await sql`ALTER TABLE domains ADD COLUMN purged_at timestamptz`.execute(db);
      // Domains deleted before this migration kept their instances and volumes: end and hand them to
      // the zeroing worker now, as deleting a domain does from here on.
      await sql.raw(finishDeletedDomains).execute(db);
      // The purge runs in the system context; the tables the application role may not delete from
      // (a tenant's transaction never removes its usage, its grants or its Stripe records) get DELETE for
      // the system role alone.
      if (await roleExists(db, systemRole)) {
        await sql
          .raw(
            `GRANT DELETE ON grants, usage_records, stripe_customers, stripe_events, oauth_clients, portal_hosts, portal_branding TO ${systemRole}`,
          )
          .execute(db);
      }
      // The servers running on this store, each with where it keeps volumes: a server refuses to start
      // beside another when either keeps them in a directory of its own (docs/operating.md, "Several
      // servers"). A system record, no domain's: the application role sees none of it.
      await sql`
        CREATE TABLE servers (
          host text NOT NULL CHECK (length(host) BETWEEN 1 AND 255),
          volume_dir text NOT NULL CHECK (length(volume_dir) BETWEEN 1 AND 4096),
          volume_dir_shared boolean NOT NULL,
          started_at timestamptz NOT NULL,
          seen_at timestamptz NOT NULL,
          PRIMARY KEY (host, volume_dir)
        )`.execute(db);
      await isolate(db, 'servers', 'host', { using: 'false', check: 'false' });
      await grantApp(db, 'servers');
    },
  },
  '0029_oauth_codes': {
    async up(db) {
      // Authorization codes (docs/identity.md, "Authorization code flow"): each issued by one domain's
      // authorization endpoint to one of its clients, for one redirect URI and one PKCE challenge; kept
      // only as a hash, spent at its first presentation, short-lived. A spent code remembers the session
      // its tokens opened, so a code presented again ends that session.
      await sql`
        CREATE TABLE oauth_codes (
          code_hash text PRIMARY KEY CHECK (code_hash ~ '^[0-9a-f]{64}$'),
          domain_id text NOT NULL REFERENCES domains (id),
          client_id text NOT NULL CHECK (client_id ~ '^bho_[0-9a-f]{32}$'),
          principal_id text NOT NULL,
          redirect_uri text NOT NULL CHECK (length(redirect_uri) BETWEEN 1 AND 2000),
          code_challenge text NOT NULL CHECK (code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
          scope text NOT NULL CHECK (length(scope) <= 1000),
          nonce text CHECK (length(nonce) <= 500),
          auth_time timestamptz NOT NULL,
          created_at timestamptz NOT NULL,
          expires_at timestamptz NOT NULL,
          used_at timestamptz,
          session_id text
        )`.execute(db);
      await sql`CREATE INDEX oauth_codes_domain ON oauth_codes (domain_id, expires_at)`.execute(db);
      await isolate(db, 'oauth_codes', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'oauth_codes', 'SELECT, INSERT');
      await grantApp(db, 'oauth_codes', 'UPDATE (used_at, session_id)');
      // private_key_jwt (RFC 7523): a confidential client that holds no secret but registers the public
      // keys it signs its assertions with; each assertion's `jti` is remembered until it expires, so it
      // authenticates once.
      await sql`ALTER TABLE oauth_clients ADD COLUMN jwks jsonb CHECK (jsonb_typeof(jwks) = 'object')`.execute(
        db,
      );
      await sql`ALTER TABLE oauth_clients DROP CONSTRAINT oauth_clients_auth_method_check`.execute(db);
      await sql`ALTER TABLE oauth_clients DROP CONSTRAINT oauth_clients_check`.execute(db);
      await sql`
        ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_auth_method_check CHECK (auth_method IN
          ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'))`.execute(db);
      await sql`
        ALTER TABLE oauth_clients ADD CONSTRAINT oauth_clients_credential_check CHECK (
          (secret_hash IS NOT NULL) = (auth_method IN ('client_secret_basic', 'client_secret_post'))
          AND (jwks IS NOT NULL) = (auth_method = 'private_key_jwt'))`.execute(db);
      await sql`
        CREATE TABLE oauth_assertions (
          domain_id text NOT NULL REFERENCES domains (id),
          client_id text NOT NULL CHECK (client_id ~ '^bho_[0-9a-f]{32}$'),
          jti text NOT NULL CHECK (length(jti) BETWEEN 1 AND 200),
          expires_at timestamptz NOT NULL,
          PRIMARY KEY (client_id, jti)
        )`.execute(db);
      await sql`CREATE INDEX oauth_assertions_domain ON oauth_assertions (domain_id, expires_at)`.execute(db);
      await isolate(db, 'oauth_assertions', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'oauth_assertions', 'SELECT, INSERT, DELETE');
      if (await roleExists(db, systemRole))
        await sql.raw(`GRANT DELETE ON oauth_codes, oauth_assertions TO ${systemRole}`).execute(db);
    },
  },
  '0030_idempotent_requests': {
    async up(db) {
      // The first answer to each create sent with an `Idempotency-Key` (docs/api.md, "Idempotency-Key"),
      // kept 24 hours so a retry gets it again. A key is one credential's in one domain: the domain's rows
      // are isolated like every tenant table, and a create that names no domain yet (a domain, a grant:
      // the operator's) keeps its answer in a table only the system context sees. `status` is NULL while
      // the first request is still running: a duplicate sent meanwhile is refused, never run twice.
      await sql`
        CREATE TABLE idempotent_requests (
          domain_id text NOT NULL REFERENCES domains (id),
          credential text NOT NULL CHECK (length(credential) BETWEEN 1 AND 200),
          key text NOT NULL CHECK (key ~ '^[!-~]{1,200}$'),
          fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
          status integer CHECK (status BETWEEN 200 AND 299),
          body text,
          headers jsonb CHECK (jsonb_typeof(headers) = 'object'),
          created_at timestamptz NOT NULL,
          PRIMARY KEY (domain_id, credential, key)
        )`.execute(db);
      await sql`CREATE INDEX idempotent_requests_created ON idempotent_requests (created_at)`.execute(db);
      await isolate(db, 'idempotent_requests', 'domain_id', ownSignedDomain('domain_id'));
      await grantApp(db, 'idempotent_requests');
      await sql`
        CREATE TABLE operator_idempotent_requests (
          credential text NOT NULL CHECK (length(credential) BETWEEN 1 AND 200),
          key text NOT NULL CHECK (key ~ '^[!-~]{1,200}$'),
          fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
          status integer CHECK (status BETWEEN 200 AND 299),
          body text,
          headers jsonb CHECK (jsonb_typeof(headers) = 'object'),
          created_at timestamptz NOT NULL,
          PRIMARY KEY (credential, key)
        )`.execute(db);
      await isolate(db, 'operator_idempotent_requests', 'credential', { using: 'false', check: 'false' });
      await grantApp(db, 'operator_idempotent_requests');
    },
  },
  '0031_record_usage': {
    async up(db) {
      // Recording usage as one call (docs/benchmarks.md, "Billing"): the period's shared lock, the checks
      // of the meter and the period, the insert and, when it inserted nothing, the record that holds the
      // event id. A PL/pgSQL function plans its statements once per server session, where the same
      // statements sent as text were planned on every record, and as VOLATILE it takes a fresh snapshot
      // for each statement: the invoice check, after the lock, sees an invoice that committed while it
      // waited, as a statement of its own after the lock did. It runs with the caller's rights (not
      // SECURITY DEFINER), so row-level security applies to every statement as to the caller's own: a
      // domain id other than the transaction's scope finds no invoice, no record, and inserts nothing.
      // Every name is qualified, so the caller's search path decides nothing.
      await sql`
        CREATE FUNCTION public.record_usage(
          p_domain pg_catalog.text, p_event pg_catalog.text, p_meter pg_catalog.text,
          p_quantity pg_catalog.int8, p_at pg_catalog.timestamptz, p_recorded_at pg_catalog.timestamptz,
          p_source pg_catalog.text, p_period pg_catalog.text, p_any_meter pg_catalog.bool,
          OUT inserted pg_catalog.bool, OUT meter_known pg_catalog.bool, OUT period_closed pg_catalog.bool,
          OUT stored_meter pg_catalog.text, OUT stored_quantity pg_catalog.text,
          OUT stored_at pg_catalog.timestamptz)
          LANGUAGE plpgsql VOLATILE
        AS $fn$
        BEGIN
          PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtextextended(
            'bulkhead.billing:' OPERATOR(pg_catalog.||) p_domain OPERATOR(pg_catalog.||) ':'
              OPERATOR(pg_catalog.||) p_period, 0));
          meter_known := p_any_meter OR EXISTS (
            SELECT FROM public.billing_meters m WHERE m.meter OPERATOR(pg_catalog.=) p_meter);
          period_closed := EXISTS (
            SELECT FROM public.invoices i
            WHERE i.domain_id OPERATOR(pg_catalog.=) p_domain AND i.period OPERATOR(pg_catalog.=) p_period);
          inserted := false;
          IF meter_known AND NOT period_closed THEN
            INSERT INTO public.usage_records (domain_id, event_id, meter, quantity, at, recorded_at, source)
            VALUES (p_domain, p_event, p_meter, p_quantity, p_at, p_recorded_at, p_source)
            ON CONFLICT (domain_id, event_id) DO NOTHING;
            inserted := FOUND;
          END IF;
          IF NOT inserted THEN
            SELECT u.meter, u.quantity::pg_catalog.text, u.at INTO stored_meter, stored_quantity, stored_at
            FROM public.usage_records u
            WHERE u.domain_id OPERATOR(pg_catalog.=) p_domain AND u.event_id OPERATOR(pg_catalog.=) p_event;
          END IF;
        END
        $fn$`.execute(db);
      await sql`REVOKE ALL ON FUNCTION public.record_usage FROM PUBLIC`.execute(db);
      await sql.raw(`GRANT EXECUTE ON FUNCTION public.record_usage TO ${appRole}`).execute(db);
    },
  },
  '0032_oauth_client_bindings': {
    async up(db) {
      // A refresh token remembers the client it was issued to (docs/identity.md, "Refresh tokens"): the
      // authorization code flow's tokens are refreshed by that client only. Tokens of the password grant
      // name none (NULL), as before. A client registers the exact addresses end-session may send the
      // browser back to (RP-Initiated Logout §3), apart from its redirect URIs.
      await sql`
        ALTER TABLE refresh_tokens ADD COLUMN client_id text CHECK (client_id ~ '^bho_[0-9a-f]{32}$')`.execute(
        db,
      );
      await sql`
        ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris jsonb NOT NULL DEFAULT '[]'
          CHECK (jsonb_typeof(post_logout_redirect_uris) = 'array')`.execute(db);
    },
  },
  '0033_idempotency_claim_leases': {
    async up(db) {
      // A claim on an `Idempotency-Key` is a lease (docs/api.md, "Idempotency-Key"): the server answering
      // the first request renews it while it runs, so a retry after that server stopped runs once the
      // lease is out, seconds later, rather than a fixed five minutes after the claim. A claim made before
      // keeps its five minutes.
      for (const table of ['idempotent_requests', 'operator_idempotent_requests']) {
        await sql`ALTER TABLE ${sql.table(table)} ADD COLUMN claimed_until timestamptz`.execute(db);
        await sql`
          UPDATE ${sql.table(table)} SET claimed_until = created_at + interval '5 minutes'
          WHERE status IS NULL`.execute(db);
      }
    },
  },
  '0034_browser_session_links': {
    async up(db) {
      // A token session opened by an authorization code remembers the browser session that authorized it
      // (the issuer's own cookie session or the portal's), carried over from its code, so that
      // RP-initiated logout ends that browser session even where the browser's cookie cannot reach the
      // end-session endpoint (docs/identity.md, "Logout"). Both tables keep their row-level security; the
      // session named is looked up in the same domain only. NULL for every other session and code.
      for (const table of ['oauth_codes', 'sessions'])
        await sql`
          ALTER TABLE ${sql.table(table)}
            ADD COLUMN browser_session_id text CHECK (browser_session_id ~ '^ses_[0-9a-z]{26}$')`.execute(db);
    },
  },
};

/** Where pgcrypto lives, quoted (it may have been installed before, in a schema of the operator's choice). */
async function pgcryptoSchema(db: Kysely<unknown>): Promise<string> {
  const found = await sql<{ schema: string }>`
    SELECT quote_ident(extnamespace::regnamespace::text) AS schema FROM pg_extension WHERE extname = 'pgcrypto'`.execute(
    db,
  );
  return found.rows[0]!.schema;
}

/**
 * Migration 0018's step over the data: numbering goes on after the single chain's newest event, whose
 * head (`audit.head`) becomes `audit.cutover`, where every per-domain chain starts. Exported for the test
 * that puts a store back to the single chain and upgrades it.
 */
export async function cutOverSingleChain(db: Kysely<unknown>): Promise<void> {
  await sql`
    SELECT setval('audit_event_seq', greatest(n, 1), n > 0)
    FROM (SELECT (value::jsonb ->> 'seq')::bigint AS n FROM settings WHERE name = 'audit.head') head`.execute(
    db,
  );
  await sql`
    INSERT INTO settings (name, value, updated_at)
    SELECT 'audit.cutover', value, now() FROM settings WHERE name = 'audit.head'`.execute(db);
  await sql`DELETE FROM settings WHERE name = 'audit.head'`.execute(db);
}

/**
 * Instances and volumes became scopes of their own (`instances`, `volumes`). A key that held every
 * resource kind — what a key issued without scopes held until then — gets them too, so it keeps what it
 * could do; a key issued with a narrower list does not, since reaching compute was not what its scopes
 * meant to allow. Exported for the test that upgrades a key of the earlier default.
 */
export const widenDefaultKeyScopes = `
  UPDATE provisioning_keys
     SET scopes = scopes || '["instances", "volumes"]'::jsonb
   WHERE scopes @> '["postgres", "redis", "rabbitmq", "storage", "kubernetes"]'::jsonb
     AND NOT scopes @> '["instances"]'::jsonb`;

/**
 * Migration 0028's step over the data: the instances of deleted domains are ended and their volumes
 * detached and marked `deleting`, for the zeroing worker. Exported for the test that deletes a domain as
 * the code before it did and upgrades the store.
 */
export const finishDeletedDomains = `
  WITH gone AS (SELECT id, deleted_at FROM domains WHERE status = 'deleted'),
  volumes_marked AS (
    UPDATE volumes v
       SET status = 'deleting', instance_id = NULL, attached_at = NULL, lease_until = NULL,
           updated_at = now()
      FROM gone
     WHERE v.domain_id = gone.id AND v.status IN ('available', 'attached')
  RETURNING v.id)
  UPDATE instances i
     SET status = 'deleted', deleted_at = coalesce(gone.deleted_at, now()), updated_at = now()
    FROM gone
   WHERE i.domain_id = gone.id AND i.status <> 'deleted'`;

/**
 * After the migrations, as the connecting role: makes it a member of the application role if it is not
 * (an owner that is not a superuser must be, for its pool to switch to that role), and, when it owns the
 * database, of the system role too (a server that logs in as the owner reaches the system context as
 * the owner, having no login of the system role's own); takes the system role from the application role
 * again if someone granted it back; and puts back the roles' attributes if someone widened them. A role
 * that may not (a login that is only a member of the application role) changes nothing; the store's own
 * check then refuses to start on widened roles.
 */
async function repairRoles(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `DO $$ BEGIN
         IF NOT pg_has_role(current_user, '${appRole}', 'MEMBER') THEN
           EXECUTE format('GRANT ${appRole} TO %I', current_user);
         END IF;
       EXCEPTION WHEN insufficient_privilege THEN NULL; -- not the owner: its connections say what is missing
       END $$`,
    )
    .execute(db);
  await sql
    .raw(
      `DO $$ BEGIN
         IF pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
            AND NOT pg_has_role(current_user, '${systemRole}', 'MEMBER') THEN
           EXECUTE format('GRANT ${systemRole} TO %I', current_user);
         END IF;
       EXCEPTION WHEN insufficient_privilege THEN NULL; -- the store's check names what is missing
       END $$`,
    )
    .execute(db);
  const granted = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_auth_members
    WHERE roleid = ${systemRole}::regrole AND member = ${appRole}::regrole`.execute(db);
  if (granted.rows[0]!.n > 0) {
    try {
      await sql.raw(revokeSystemFromApp).execute(db);
    } catch {
      // Not allowed: the store's own check refuses to start and says what to run.
    }
  }
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pg_roles
    WHERE rolname IN (${appRole}, ${systemRole}) AND (rolsuper OR rolbypassrls OR rolinherit OR rolcanlogin)`.execute(
    db,
  );
  if (rows[0]!.n === 0) return;
  try {
    await ensureBareRole(db, appRole, 'NOINHERIT');
    await ensureBareRole(db, systemRole, 'NOINHERIT');
  } catch {
    // Not the owner: the store's own check names the roles.
  }
}

/**
 * After the migrations, as the connecting role: closes the store's database to every role but Bulkhead's
 * own. PostgreSQL lets PUBLIC connect to a new database and create temporary tables in it, so on a server
 * shared with the PostgreSQL provider a tenant's role could log in here and NOTIFY Bulkhead's channels;
 * CONNECT goes to the application and system roles instead (a login that is a member of one of them keeps
 * it), and nobody gets TEMPORARY (Bulkhead needs no temporary table; the owner keeps its rights). Run at
 * every start, so a grant put back by hand is taken away again. A role that does not own the database
 * changes nothing (docs/operating.md says what to run then).
 */
async function closeDatabase(db: Kysely<unknown>): Promise<void> {
  await sql
    .raw(
      `DO $$ BEGIN
         IF NOT pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
         THEN RETURN;
         END IF;
         -- Two servers starting at once would update the same catalog row: one at a time, and the second
         -- finds nothing left to do.
         PERFORM pg_advisory_xact_lock(hashtext('bulkhead.close_database'));
         IF has_database_privilege('public', current_database(), 'CONNECT')
            OR has_database_privilege('public', current_database(), 'TEMPORARY')
            OR NOT has_database_privilege('${appRole}', current_database(), 'CONNECT')
            OR NOT has_database_privilege('${systemRole}', current_database(), 'CONNECT') THEN
           EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
           EXECUTE format('GRANT CONNECT ON DATABASE %I TO ${appRole}, ${systemRole}', current_database());
         END IF;
       END $$`,
    )
    .execute(db);
}

/** The migrations in the order they run. */
export const migrationNames: readonly string[] = Object.keys(migrations);

export async function migrateToLatest(db: Kysely<unknown>): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
    migrationTableName: 'bulkhead_migrations',
    migrationLockTableName: 'bulkhead_migrations_lock',
  });
  // Migrations may move rows of every domain: they run in the system context (one connection).
  await sql`SELECT set_config('bulkhead.system', 'on', false)`.execute(db);
  const result = await migrator
    .migrateToLatest()
    .finally(() => sql`SELECT set_config('bulkhead.system', '', false)`.execute(db).catch(() => undefined));
  if (result.error !== undefined) {
    throw result.error instanceof Error
      ? result.error
      : new Error('migration failed', { cause: result.error });
  }
  await repairRoles(db);
  await closeDatabase(db);
  return result;
}
