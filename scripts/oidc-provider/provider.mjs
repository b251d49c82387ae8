// The OpenID provider the SSO tests sign in with: npm oidc-provider (OpenID Certified), on loopback.
//   node scripts/oidc-provider/provider.mjs CONFIG.json
// CONFIG: {port, clients: [{client_id, client_secret, redirect_uris}], jwks: {keys: [private JWKs]}}.
// Accounts: any login at the sign-in form; the account id is the login. Claims: email = the login when
// it has an @, else <login>@example.edu; email_verified false for logins starting "unverified"; name;
// lms_role = the part before "+" when the login has one (e.g. "instructor+ina@example.edu").
// Prints "listening <issuer>" once it accepts connections.
import { readFileSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const here = path.dirname(new URL(import.meta.url).pathname);
const modules = process.env.LMS_OIDC_PROVIDER_MODULES
  || path.join(here, "..", "..", ".cache", "npm", "oidc-provider", "node_modules");
const require = createRequire(path.join(modules, "noop.js"));
const { default: Provider } = await import(require.resolve("oidc-provider"));

const issuer = `http://127.0.0.1:${config.port}`;
function claimsOf(login) {
  const email = login.includes("@") ? login : `${login}@example.edu`;
  const claims = { sub: login, email, email_verified: !login.startsWith("unverified"), name: `Person ${login}` };
  const plus = login.split("@")[0].indexOf("+");
  if (plus > 0) claims.lms_role = login.slice(0, plus);
  return claims;
}

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    response_types: ["code"], grant_types: ["authorization_code"],
    token_endpoint_auth_method: "client_secret_basic", ...c,
  })),
  jwks: config.jwks,
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "lms_role"] },
  conformIdTokenClaims: false, // scope claims in the ID token, as Entra ID, Google and Keycloak send them
  findAccount: async (ctx, id) => ({ accountId: id, claims: async () => claimsOf(id) }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["lms-test-cookie-key"] },
  ttl: { IdToken: config.id_token_ttl || 3600 },
});
provider.proxy = false;
const server = provider.listen(config.port, "127.0.0.1", () => {
  console.log(`listening ${issuer}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
