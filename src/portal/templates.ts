// The portal's pages, as Eta templates compiled once at start. `<%= %>` escapes (autoEscape is on), so
// every value from a domain, a person or a request is text; `<%~ %>` (raw) is used only for markup
// these templates make themselves. Colours are checked (#rrggbb) before they reach the page.

export const layout = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title><%= it.title %> · <%= it.site.displayName %></title>
<link rel="stylesheet" href="/portal-assets/portal.css">
<style nonce="<%= it.nonce %>">:root{--primary:<%= it.site.primaryColor %>;--accent:<%= it.site.accentColor %>}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="bar">
<a class="brand" href="<%= it.nav[0].href %>"><% if (it.site.logo) { %><img src="/portal-assets/logo?v=<%= it.site.logo.sha256.slice(0, 12) %>" alt=""><% } %><span><%= it.site.displayName %></span></a>
<% if (it.user) { %>
<nav aria-label="Main"><ul>
<% for (const item of it.nav) { %><li><a href="<%= item.href %>"<% if (item.current) { %> aria-current="page"<% } %>><%= item.label %></a></li><% } %>
</ul></nav>
<form method="post" action="<%= it.signOut %>"><input type="hidden" name="csrf" value="<%= it.csrf %>"><button type="submit">Sign out</button></form>
<% } %>
</header>
<main id="main">
<%~ it.body %>
</main>
<footer><% if (it.site.supportEmail) { %>Help: <a href="mailto:<%= it.site.supportEmail %>"><%= it.site.supportEmail %></a><% } %><% if (it.site.supportUrl) { %> · <a href="<%= it.site.supportUrl %>" rel="noopener">Support</a><% } %></footer>
<script nonce="<%= it.nonce %>" src="/portal-assets/portal.js" defer></script>
</body>
</html>`;

export const signIn = `<div class="signin card">
<h1>Sign in to <%= it.site.displayName %></h1>
<% if (it.message) { %><p class="notice error" role="alert"><%= it.message %></p><% } %>
<form method="post" action="/sign-in">
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<input type="hidden" name="next" value="<%= it.next %>">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required maxlength="320" value="<%= it.email %>">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024">
<p><button type="submit">Sign in</button></p>
</form>
</div>`;

export const dashboard = `<h1>Welcome</h1>
<p class="muted">Signed in as <%= it.user.email %> (<%= it.user.role %>) at <%= it.site.host %>.</p>
<div class="grid">
<div class="card"><div class="stat"><%= it.counts.resources %></div><a href="/resources">Resources</a></div>
<div class="card"><div class="stat"><%= it.counts.members %></div><a href="/members">Members</a></div>
<div class="card"><div class="stat"><%= it.counts.sessions %></div><a href="/sessions">My sessions</a></div>
</div>`;

export const resources = `<h1>Resources</h1>
<% if (it.message) { %><p class="notice<% if (it.failed) { %> error<% } %>" role="<%= it.failed ? 'alert' : 'status' %>"><%= it.message %></p><% } %>
<% if (it.credentials) { %><div class="card notice" role="status"><p>The credentials of <strong><%= it.created.name %></strong>, shown this once here: copy them now. The domain's key reads them again through the API.</p>
<dl><% it.credentials.forEach(function (c, i) { %><dt><%= c.name %></dt><dd><code id="cred-<%= i %>"><%= c.value %></code> <button type="button" class="secondary" data-copy="cred-<%= i %>" aria-label="Copy <%= c.name %>" hidden>Copy</button></dd><% }) %></dl></div><% } %>
<% if (it.items.length === 0) { %><p class="card">No resources yet.<% if (!it.admin) { %> An admin of the domain creates them with the domain's provisioning key.<% } %></p><% } else { %>
<table><caption class="skip">Resources of <%= it.site.displayName %></caption>
<thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col" class="hide-narrow">Created</th></tr></thead>
<tbody>
<% for (const r of it.items) { %><tr><td><a href="/resources/<%= r.id %>"><%= r.name %></a></td><td><%= r.kind %></td><td><%= r.status %></td><td class="hide-narrow"><%= r.createdAt.slice(0, 10) %></td></tr><% } %>
</tbody></table><% } %>
<% if (it.admin) { %><form method="post" action="/resources" class="card" autocomplete="off">
<h2>Create a resource</h2>
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<label for="res-kind">Kind</label>
<select id="res-kind" name="kind"><% for (const k of it.kinds) { %><option value="<%= k %>"><%= k %></option><% } %></select>
<label for="res-name">Name (lowercase letters, digits and dashes)</label>
<input id="res-name" name="name" type="text" required maxlength="63" pattern="[a-z0-9][a-z0-9-]*">
<label for="res-key">The domain's provisioning key (used for this request only, never kept)</label>
<input id="res-key" name="key" type="password" required maxlength="8192" autocomplete="off">
<p><button type="submit">Create</button></p>
</form><% } %>`;

export const resource = `<h1><%= it.resource.name %></h1>
<% if (it.message) { %><p class="notice<% if (it.failed) { %> error<% } %>" role="<%= it.failed ? 'alert' : 'status' %>"><%= it.message %></p><% } %>
<div class="card"><dl>
<dt>Id</dt><dd><code><%= it.resource.id %></code></dd>
<dt>Kind</dt><dd><%= it.resource.kind %></dd>
<dt>Status</dt><dd><%= it.resource.status %></dd>
<dt>Created</dt><dd><%= it.resource.createdAt %></dd>
</dl></div>
<% if (it.admin) { %><form method="post" action="/resources/<%= it.resource.id %>/delete" class="card" autocomplete="off">
<h2>Delete this resource</h2>
<p>Its data is removed from the backend, and its name is never given out again.</p>
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<label for="del-key">The domain's provisioning key (used for this request only, never kept)</label>
<input id="del-key" name="key" type="password" required maxlength="8192" autocomplete="off">
<p><button type="submit">Delete <%= it.resource.name %></button></p>
</form><% } %>
<p><a href="/resources">All resources</a></p>`;

export const members = `<h1>Members</h1>
<% if (it.message) { %><p class="notice<% if (it.failed) { %> error<% } %>" role="<%= it.failed ? 'alert' : 'status' %>"><%= it.message %></p><% } %>
<% if (it.secret) { %><div class="card notice" role="status"><p>The service's client id is <code><%= it.secret.clientId %></code>. Its secret is shown this once: copy it now.</p>
<p><code id="secret"><%= it.secret.clientSecret %></code> <button type="button" class="secondary" data-copy="secret" hidden>Copy</button></p></div><% } %>
<table><caption class="skip">Members of <%= it.site.displayName %></caption>
<thead><tr><th scope="col">Member</th><th scope="col">Kind</th><th scope="col">Role</th><th scope="col">Status</th><% if (it.admin) { %><th scope="col">Actions</th><% } %></tr></thead>
<tbody>
<% for (const m of it.items) { const who = m.email ?? m.clientId ?? m.id; %><tr><td><%= who %></td><td><%= m.kind %></td><td><%= m.role %></td><td><%= m.status %></td>
<% if (it.admin) { %><td><% if (m.status === 'active' && m.id !== it.me) { %><form method="post" action="/members/<%= m.id %>/disable" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><button class="secondary" type="submit" aria-label="Disable <%= who %>">Disable</button></form><% } %>
<% if (m.id !== it.me) { %><form method="post" action="/members/<%= m.id %>/role" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><label class="skip" for="role-<%= m.id %>">Role of <%= who %></label><select id="role-<%= m.id %>" name="role"><option value="member"<% if (m.role === 'member') { %> selected<% } %>>Member</option><option value="admin"<% if (m.role === 'admin') { %> selected<% } %>>Admin</option></select> <button class="secondary" type="submit" aria-label="Change the role of <%= who %>">Change role</button></form><% } %>
<% if (m.kind === 'user') { %><form method="post" action="/members/<%= m.id %>/password" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><label class="skip" for="pw-<%= m.id %>">New password for <%= who %></label><input id="pw-<%= m.id %>" name="password" type="password" autocomplete="new-password" required minlength="12" maxlength="1024" placeholder="New password"> <button class="secondary" type="submit">Reset password</button></form><% } %></td><% } %></tr><% } %>
</tbody></table>
<% if (it.admin) { %><form method="post" action="/members" class="card">
<h2>Add a member</h2>
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<label for="kind">Kind</label>
<select id="kind" name="kind"><option value="user">User (email and password)</option><option value="service">Service (client id and secret)</option></select>
<label for="new-email">Email (users)</label>
<input id="new-email" name="email" type="email" maxlength="320" autocomplete="off">
<label for="new-password">Password (users, at least 12 characters)</label>
<input id="new-password" name="password" type="password" maxlength="1024" autocomplete="new-password">
<label for="role">Role</label>
<select id="role" name="role"><option value="member">Member</option><option value="admin">Admin</option></select>
<p><button type="submit">Add</button></p>
</form><% } else { %><p class="muted">Only an admin of the domain adds, disables or resets members and changes their roles.</p><% } %>`;

export const audit = `<h1>Audit trail</h1>
<form method="get" action="/audit" class="card">
<label for="action">Action</label>
<input id="action" name="action" type="text" maxlength="64" placeholder="principal.create" value="<%= it.action %>">
<p><button type="submit">Filter</button> <a href="/audit.jsonl<%= it.query %>" download>Export JSON lines</a> · <a href="/audit.csv<%= it.query %>" download>Export CSV</a></p>
</form>
<% if (it.items.length === 0) { %><p class="card">No events.</p><% } else { %>
<table><caption class="skip">Audit events of <%= it.site.displayName %></caption>
<thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col" class="hide-narrow">Actor</th><th scope="col" class="hide-narrow">Target</th></tr></thead>
<tbody>
<% for (const e of it.items) { %><tr><td><%= e.seq %></td><td><%= e.at.slice(0, 19).replace('T', ' ') %></td><td><%= e.action %></td><td><%= e.outcome %></td><td class="hide-narrow"><%= e.actor %></td><td class="hide-narrow"><%= e.target ?? '' %></td></tr><% } %>
</tbody></table><% } %>
<% if (it.next) { %><p><a href="<%= it.next %>" rel="next">Next page</a></p><% } %>`;

export const usage = `<h1>Usage</h1>
<p class="muted">Per day, the last <%= it.days %> days (UTC).</p>
<% if (it.charts.length === 0) { %><p class="card">No usage recorded in this period.</p><% } %>
<% for (const c of it.charts) { %><section class="card"><h2><%= c.meter %></h2><%~ c.svg %><p class="muted">Total: <%= c.total %></p></section><% } %>
<p><a href="/invoices">Invoices</a></p>`;

export const invoices = `<h1>Invoices</h1>
<% if (it.items.length === 0) { %><p class="card">No invoices yet.</p><% } else { %>
<table><caption class="skip">Invoices of <%= it.site.displayName %></caption>
<thead><tr><th scope="col">Number</th><th scope="col">Period</th><th scope="col">Total</th><th scope="col">Status</th><th scope="col">PDF</th></tr></thead>
<tbody>
<% for (const i of it.items) { %><tr><td><%= i.number %></td><td><%= i.period %></td><td><%= i.amount %></td><td><%= i.status %></td><td><a href="/invoices/<%= i.id %>.pdf">Invoice <%= i.number %> (PDF)</a></td></tr><% } %>
</tbody></table><% } %>`;

export const sessions = `<h1>My sessions</h1>
<% if (it.message) { %><p class="notice" role="status"><%= it.message %></p><% } %>
<table><caption class="skip">Your live sessions</caption>
<thead><tr><th scope="col">Session</th><th scope="col">Where</th><th scope="col" class="hide-narrow">Opened</th><th scope="col">Action</th></tr></thead>
<tbody>
<% for (const s of it.items) { %><tr><td><code><%= s.id %></code><% if (s.current) { %> (this one)<% } %></td><td><%= s.portalHost ?? (s.browser ? 'API browser session' : 'API tokens') %></td><td class="hide-narrow"><%= s.createdAt.toISOString().slice(0, 16).replace('T', ' ') %></td>
<td><form method="post" action="/sessions/<%= s.id %>/end"><input type="hidden" name="csrf" value="<%= it.csrf %>"><button class="secondary" type="submit" aria-label="End session <%= s.id %>">End</button></form></td></tr><% } %>
</tbody></table>
<form method="post" action="/sessions/sign-out-everywhere" class="card">
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<p>Ends every session of yours, on every device, this one included.</p>
<button type="submit">Sign out everywhere</button>
</form>`;

export const problem = `<h1><%= it.heading %></h1>
<p class="card"><%= it.detail %></p>
<p><a href="<%= it.home ?? '/' %>">Back to the start</a></p>`;

/** The page of a host that names no domain: nothing of any domain, no assets of any. */
export const bare = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Not found</title></head>
<body><main><h1>Not found</h1><p>There is no portal at this address.</p></main></body></html>`;

// ---- the operator console, at the control plane's own host -------------------------------------------

export const consoleSignIn = `<div class="signin card">
<h1>Operator console</h1>
<% if (it.message) { %><p class="notice error" role="alert"><%= it.message %></p><% } %>
<form method="post" action="/console/sign-in">
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<label for="token">Operator token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required maxlength="8192">
<p><button type="submit">Sign in</button></p>
</form>
</div>`;

export const consoleHome = `<h1>Overview</h1>
<div class="grid">
<div class="card"><div class="stat"><%= it.domains %></div><a href="/console/domains">Domains</a></div>
<div class="card"><div class="stat"><%= it.grants %></div><a href="/console/grants">Live grants</a></div>
<div class="card"><h2>Audit chain</h2><% if (it.audit.ok) { %><p>Intact: <%= it.audit.checked %> events checked, head #<%= it.audit.headSeq %>.</p><% } else { %><p class="notice error" role="alert">Broken at #<%= it.audit.broken?.seq %>: <%= it.audit.broken?.reason %></p><% } %></div>
</div>
<section class="card"><h2>Isolation runs (<code>bulkhead verify</code>)</h2>
<% if (it.runs.length === 0) { %><p>No run recorded yet.</p><% } else { %><%~ it.chart %>
<p class="muted">Bars: leaks per run. Line: operations exercised, as a share of those to exercise.</p>
<table><caption class="skip">The newest runs</caption>
<thead><tr><th scope="col">Finished</th><th scope="col">Verdict</th><th scope="col">Leaks</th><th scope="col">Exercised</th></tr></thead>
<tbody><% for (const r of it.runs.slice(-10).reverse()) { %><tr><td><%= r.finishedAt.slice(0, 16).replace('T', ' ') %></td><td><%= r.verdict %></td><td><%= r.leaks %></td><td><%= r.exercised %> / <%= r.operations %></td></tr><% } %></tbody></table><% } %>
</section>`;

export const consoleDomains = `<h1>Domains</h1>
<% if (it.message) { %><p class="notice error" role="alert"><%= it.message %></p><% } %>
<table><caption class="skip">Every domain</caption>
<thead><tr><th scope="col">Slug</th><th scope="col">Name</th><th scope="col">Status</th><th scope="col" class="hide-narrow">Created</th></tr></thead>
<tbody><% for (const d of it.items) { %><tr><td><a href="/console/domains/<%= d.id %>"><%= d.slug %></a></td><td><%= d.name %></td><td><%= d.status %></td><td class="hide-narrow"><%= d.createdAt.slice(0, 10) %></td></tr><% } %></tbody></table>
<form method="post" action="/console/domains" class="card">
<h2>Create a domain</h2>
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<label for="slug">Slug</label><input id="slug" name="slug" type="text" required maxlength="63" pattern="[a-z0-9][a-z0-9-]*">
<label for="name">Name</label><input id="name" name="name" type="text" required maxlength="200">
<p><button type="submit">Create</button></p>
</form>`;

export const consoleDomain = `<h1><%= it.domain.name %> <span class="muted">(<%= it.domain.slug %>)</span></h1>
<% if (it.message) { %><p class="notice<% if (it.failed) { %> error<% } %>" role="<%= it.failed ? 'alert' : 'status' %>"><%= it.message %></p><% } %>
<% if (it.secret) { %><div class="card notice" role="status"><p>The new key, shown this once: copy it now.</p><p><code id="secret"><%= it.secret %></code> <button type="button" class="secondary" data-copy="secret" hidden>Copy</button></p></div><% } %>
<div class="card"><p>Id <code><%= it.domain.id %></code> · status <strong><%= it.domain.status %></strong></p>
<% if (it.domain.status !== 'deleted') { %>
<% if (it.domain.status === 'active') { %><form method="post" action="/console/domains/<%= it.domain.id %>/suspend" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><button class="secondary" type="submit">Suspend</button></form><% } else { %><form method="post" action="/console/domains/<%= it.domain.id %>/resume" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><button class="secondary" type="submit">Resume</button></form><% } %>
<form method="post" action="/console/domains/<%= it.domain.id %>/delete" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><label class="skip" for="confirm">Type the slug to delete</label><input id="confirm" name="confirm" type="text" maxlength="63" placeholder="slug to confirm" required> <button class="secondary" type="submit">Delete</button></form><% } %>
</div>
<form method="post" action="/console/domains/<%= it.domain.id %>/portal" class="card">
<h2>Portal hosts and branding</h2>
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<label for="hosts">Hosts (one per line)</label>
<textarea id="hosts" name="hosts" rows="3" cols="40" maxlength="3000"><%= it.portal.hosts.join('\\n') %></textarea>
<label for="displayName">Display name</label><input id="displayName" name="displayName" type="text" maxlength="100" value="<%= it.portal.branding?.displayName ?? it.domain.name %>">
<label for="primaryColor">Primary colour</label><input id="primaryColor" name="primaryColor" type="text" maxlength="7" value="<%= it.portal.branding?.primaryColor ?? '#1f4f8f' %>">
<label for="accentColor">Accent colour</label><input id="accentColor" name="accentColor" type="text" maxlength="7" value="<%= it.portal.branding?.accentColor ?? '#0f7b5f' %>">
<label for="supportEmail">Support email</label><input id="supportEmail" name="supportEmail" type="email" maxlength="320" value="<%= it.portal.branding?.supportEmail ?? '' %>">
<p><button type="submit">Save</button></p>
</form>
<section class="card"><h2>Provisioning keys</h2>
<table><caption class="skip">Keys of <%= it.domain.slug %></caption>
<thead><tr><th scope="col">Key</th><th scope="col">Scopes</th><th scope="col">Status</th><th scope="col">Action</th></tr></thead>
<tbody><% for (const k of it.keys) { %><tr><td><code><%= k.prefix %></code> <%= k.name ?? '' %></td><td><%= k.scopes.join(', ') || 'every kind' %></td><td><%= k.revokedAt ? 'revoked' : 'live' %></td>
<td><% if (!k.revokedAt) { %><form method="post" action="/console/domains/<%= it.domain.id %>/keys/<%= k.id %>/revoke" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><button class="secondary" type="submit" aria-label="Revoke key <%= k.prefix %>">Revoke</button></form><% } %></td></tr><% } %></tbody></table>
<% if (it.domain.status !== 'deleted') { %><form method="post" action="/console/domains/<%= it.domain.id %>/keys"><input type="hidden" name="csrf" value="<%= it.csrf %>"><label for="keyName">Name of a new key</label><input id="keyName" name="name" type="text" maxlength="100"> <p><button type="submit">Issue a key</button></p></form><% } %>
</section>
<section class="card"><h2>Grants</h2>
<% if (it.grants.length === 0) { %><p>No grant names this domain.</p><% } else { %><ul><% for (const g of it.grants) { %><li><code><%= g.from %></code> → <code><%= g.to %></code>: <%= g.actions.join(', ') %> until <%= g.expiresAt.slice(0, 16).replace('T', ' ') %><% if (g.revokedAt) { %> (revoked)<% } %></li><% } %></ul><% } %>
<p><a href="/console/grants">All grants</a></p>
</section>`;

export const consoleGrants = `<h1>Grants</h1>
<% if (it.message) { %><p class="notice<% if (it.failed) { %> error<% } %>" role="<%= it.failed ? 'alert' : 'status' %>"><%= it.message %></p><% } %>
<% if (it.items.length === 0) { %><p class="card">No grant.</p><% } else { %>
<table><caption class="skip">Every grant</caption>
<thead><tr><th scope="col">From → to</th><th scope="col">Actions</th><th scope="col">Resources</th><th scope="col" class="hide-narrow">Reason</th><th scope="col">Expires</th><th scope="col">Action</th></tr></thead>
<tbody><% for (const g of it.items) { %><tr><td><code><%= g.from %></code> → <code><%= g.to %></code></td><td><%= g.actions.join(', ') %></td><td><%= g.resources.join(', ') %></td><td class="hide-narrow"><%= g.reason %></td><td><%= g.expiresAt.slice(0, 16).replace('T', ' ') %></td>
<td><% if (!g.revokedAt) { %><form method="post" action="/console/grants/<%= g.id %>/revoke" class="inline"><input type="hidden" name="csrf" value="<%= it.csrf %>"><button class="secondary" type="submit" aria-label="Revoke grant <%= g.id %>">Revoke</button></form><% } else { %>revoked<% } %></td></tr><% } %></tbody></table><% } %>
<form method="post" action="/console/grants" class="card">
<h2>Create a grant</h2>
<p class="muted">The principals of one domain may then do the chosen actions on resources of another, until the grant expires or is revoked. Every use is audited.</p>
<input type="hidden" name="csrf" value="<%= it.csrf %>">
<label for="grant-from">From (the domain that acts)</label>
<select id="grant-from" name="from" required><% for (const d of it.domains) { %><option value="<%= d.id %>"><%= d.slug %> (<%= d.name %>)</option><% } %></select>
<label for="grant-to">To (the domain whose resources it acts on)</label>
<select id="grant-to" name="to" required><% for (const d of it.domains) { %><option value="<%= d.id %>"><%= d.slug %> (<%= d.name %>)</option><% } %></select>
<fieldset><legend>Actions</legend><% for (const a of it.actions) { %><label class="check"><input type="checkbox" name="actions" value="<%= a %>"> <%= a %></label><% } %></fieldset>
<label for="grant-resources">Resources (ids, or * for all)</label>
<input id="grant-resources" name="resources" type="text" required maxlength="4200" value="*">
<label for="grant-days">Days (1 to <%= it.maxDays %>)</label>
<input id="grant-days" name="days" type="number" required min="1" max="<%= it.maxDays %>" value="7">
<label for="grant-reason">Reason</label>
<input id="grant-reason" name="reason" type="text" required maxlength="500">
<p><button type="submit">Create the grant</button></p>
</form>
<p class="muted">Grants are also created with <code>bulkhead grant create</code> or <code>POST /v1/grants</code>.</p>`;
