// A real OpenID Connect provider on loopback for Confer: the npm package
// `oidc-provider` (an OpenID-certified implementation) with one client
// registered for Confer and its built-in development login and consent
// pages. Any login is accepted (the password is ignored); the login is the
// account's id and, when it looks like an email address, its `email` claim.
//
// Used by the integration tests (tests/it/oidc_provider.rs, which start it
// themselves) and for trying OIDC sign-in locally (docs/auth.md).
//
// Environment (all optional):
//   OIDC_HOST           address to listen on, default 127.0.0.1 (loopback only)
//   OIDC_PORT           port, default 0 (any free port)
//   OIDC_CLIENT_ID      default "confer"
//   OIDC_CLIENT_SECRET  default "confer-dev-secret" (keep to [A-Za-z0-9._~-])
//   OIDC_REDIRECT_URIS  comma-separated redirect URIs registered for the client,
//                       default https://localhost:8443/sign-in/oidc/local/callback
//                       and the same on https://127.0.0.1:8443
//
// The first line on stdout is the issuer URL, e.g. http://127.0.0.1:40123
// (no trailing slash); use it as `issuer` in Confer's [[auth.oidc]] block.
// State (sessions, codes) is in memory: a restart forgets everything.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const host = process.env.OIDC_HOST || '127.0.0.1';
const port = Number.parseInt(process.env.OIDC_PORT || '0', 10);
const clientId = process.env.OIDC_CLIENT_ID || 'confer';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'confer-dev-secret';
const redirectUris = (process.env.OIDC_REDIRECT_URIS
  || 'https://localhost:8443/sign-in/oidc/local/callback,https://127.0.0.1:8443/sign-in/oidc/local/callback')
  .split(',')
  .map((u) => u.trim())
  .filter(Boolean);

// The provider's own signing key, new at every start.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: `confer-test-${randomBytes(4).toString('hex')}`,
  alg: 'RS256',
  use: 'sig',
};

function nameFromLogin(login) {
  const local = login.split('@')[0] || login;
  return local
    .split(/[._-]+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join(' ');
}

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Confer always sends a PKCE challenge; make the provider insist on one.
  pkce: { required: () => true },
  // Put email and name in the ID token too, not only in userinfo.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  async findAccount(ctx, id) {
    const login = String(id).trim().toLowerCase();
    return {
      accountId: login,
      async claims() {
        const claims = { sub: login, name: nameFromLogin(login) };
        if (login.includes('@')) {
          claims.email = login;
          claims.email_verified = true;
        }
        return claims;
      },
    };
  },
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: true },
  },
};

const server = createServer();
server.listen(port, host, () => {
  const { port: bound } = server.address();
  const issuer = `http://${host}:${bound}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (_ctx, err) => {
    console.error('oidc-provider server_error:', err);
  });
  server.on('request', provider.callback());
  // The first line on stdout is the issuer: the tests read it.
  process.stdout.write(`${issuer}\n`);
  console.error(`OpenID provider for Confer at ${issuer} (client_id ${clientId}; redirect URIs ${redirectUris.join(' ')})`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    process.exit(0);
  });
}
