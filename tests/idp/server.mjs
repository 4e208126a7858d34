// A real OpenID provider (oidc-provider, OpenID Certified) on loopback for the
// Nexus tests. Usage: node server.mjs PORT   (0 picks a free port)
// Prints "nexus-test-idp ready <issuer>" on stdout once it accepts requests;
// everything else goes to stderr.
import http from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? '0');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: node server.mjs PORT');
  process.exit(2);
}

// Listen first so that port 0 works: the issuer must name the real port.
const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'nexus-test',
        client_secret: 'nexus-test-secret',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      },
    ],
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    clockTolerance: 0,
  });
  // The token endpoint's error bodies are terse; the reason is only here.
  provider.on('grant.error', (ctx, err) => {
    console.error(`grant.error: ${err.message} ${err.error_detail ?? ''}`);
  });
  server.on('request', provider.callback());
  console.log(`nexus-test-idp ready ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
