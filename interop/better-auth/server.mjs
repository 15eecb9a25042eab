// A real Better Auth server for the interop check: email and password sign-in
// plus the jwt() plugin, on the in-memory adapter (no native modules).
//
// Environment:
//   JWT_ALG             key algorithm for jwks.keyPairConfig (default EdDSA,
//                       Better Auth's own default, left unconfigured)
//   BETTER_AUTH_SECRET  read by Better Auth itself, as in an app's .env
//   URL_FILE            where to write the base URL once listening
//   JWKS_ROTATION_SECONDS  turns on key rotation (jwks.rotationInterval)
//
// It listens on 127.0.0.1 on a port the kernel picks, then configures Better
// Auth with baseURL = that address, the way an app sets BETTER_AUTH_URL.
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";

const keyPairConfigs = {
  EdDSA: undefined,
  ES256: { alg: "ES256" },
  ES512: { alg: "ES512" },
  RS256: { alg: "RS256", modulusLength: 2048 },
  PS256: { alg: "PS256", modulusLength: 2048 },
};
const alg = process.env.JWT_ALG || "EdDSA";
if (!(alg in keyPairConfigs)) {
  console.error(`server: JWT_ALG ${alg} is not one of ${Object.keys(keyPairConfigs).join(", ")}`);
  process.exit(2);
}
const keyPairConfig = keyPairConfigs[alg];
const rotationInterval = Number(process.env.JWKS_ROTATION_SECONDS) || undefined;
const jwks = { ...(keyPairConfig && { keyPairConfig }), ...(rotationInterval && { rotationInterval }) };

let handler = null;
const server = createServer((req, res) => {
  if (!handler) {
    res.writeHead(503).end();
    return;
  }
  handler(req, res);
});

server.listen(0, "127.0.0.1", () => {
  const baseURL = `http://127.0.0.1:${server.address().port}`;
  const auth = betterAuth({
    baseURL,
    database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
    plugins: [jwt(Object.keys(jwks).length ? { jwks } : undefined)],
  });
  handler = toNodeHandler(auth);
  // A fresh database has no signing key: the plugin creates one on the first
  // request that needs it, and two first requests at once (todod's JWKS fetch,
  // a token request) can each create one. An app that has run before already
  // has its key, so ask for the JWKS once before announcing the URL.
  fetch(`${baseURL}/api/auth/jwks`)
    .then(async (res) => {
      if (res.status !== 200) throw new Error(`GET /api/auth/jwks: ${res.status} ${await res.text()}`);
      if (process.env.URL_FILE) writeFileSync(process.env.URL_FILE, baseURL + "\n");
      console.log(`better-auth ${alg} listening on ${baseURL}`);
    })
    .catch((err) => {
      console.error(`server: ${err.stack ?? err}`);
      process.exit(1);
    });
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
