// A real OpenID Provider for the tests: node's oidc-provider (OpenID Certified), on a loopback address.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"issuer": "http://127.0.0.1:PORT", "port": PORT, "clients": [oidc-provider client metadata],
//          "accounts": {"login": {claims}}, "claims": {scope: [claim names]}, "jwks": {"keys": [private JWK]}
//          (optional: two providers may share keys, as tenants of one provider do), "idTokenTtlS": N,
//          "cookieKey": "..."}
// Prints "ready ISSUER" on standard output once it listens. Its own pages (login, logout) load nothing
// from elsewhere, so a browser test sends no traffic beyond the loopback address. The login page asks
// only for the account name (`login`): the tests are about the relying party, not about passwords.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = config.accounts ?? {};

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>${escape(title)}</title></head><body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;

async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  ...(config.jwks ? { jwks: config.jwks } : {}),
  cookies: { keys: [config.cookieKey ?? 'test-cookie-key-not-secret'] },
  claims: { openid: ['sub'], ...(config.claims ?? {}) },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}<button id="logout-yes" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p id="signed-out">You are signed out at the provider.</p>');
      },
    },
  },
  pkce: { required: () => true },
  ttl: { IdToken: config.idTokenTtlS ?? 3600, AccessToken: 3600, Session: 3600, Interaction: 600, Grant: 3600 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, id) => (accounts[id] === undefined ? undefined : {
    accountId: id,
    claims: async () => ({ sub: id, ...accounts[id] }),
  }),
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.body = page('Error', `<p id="error">${escape(out.error)}: ${escape(out.error_description ?? '')}</p>`);
  },
});
provider.proxy = false;

// The interactions: a login form that asks for an account name; consent is granted at once (a first-party
// client, as the municipality registers the service).
provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name === 'login' && ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = page('Sign in at the test provider', `<form method="post" action="/interaction/${details.uid}/login">
<label for="login">Account</label> <input id="login" name="login" required autofocus>
<button id="sign-in" type="submit">Sign in</button></form>`);
    return undefined;
  }
  if (details.prompt.name === 'login' && ctx.method === 'POST' && match[2]) {
    const login = (await formBody(ctx.req)).get('login') ?? '';
    if (accounts[login] === undefined) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('Unknown account', `<p id="error">No account ${escape(login)} at this provider.</p>`);
      return undefined;
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    return ctx.redirect(to);
  }
  if (details.prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const to = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    ctx.status = 303;
    return ctx.redirect(to);
  }
  ctx.status = 400;
  ctx.body = `unexpected interaction ${details.prompt.name}`;
  return undefined;
});

const server = provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${config.issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
