// Drives one leg of the interop check: signs two users up through a real
// Better Auth server, gets their tokens the ways real frontends do, and calls
// todod with them, asserting exact statuses and the fields that matter.
//
//   node driver.mjs <leg> <better-auth-url> <todod-url>
//
// Legs:
//   jwks:<ALG>  todod has only BETTER_AUTH_URL; Better Auth signs with ALG.
//   hs256       todod has only BETTER_AUTH_SECRET; tokens are minted with jose
//               from the Better Auth session, as docs/authentication.md (b) does.
//   both        todod has both: Better Auth's JWTs and HS256 tokens minted as
//               in (b) are accepted side by side.
//   rotation    todod has only BETTER_AUTH_URL; Better Auth rotates its key
//               every ROTATION_SECONDS: tokens signed with the new key and
//               with the old one (still published) are both accepted.
// The shared secret, where used, comes from the environment (HS_SECRET).
//
// Prints one line on success; on the first mismatch prints what was expected,
// what came back and the token's decoded header and claims, and exits 1.
import { SignJWT, decodeJwt, decodeProtectedHeader } from "jose";

const [leg, authURL, apiURL] = process.argv.slice(2);
if (!leg || !authURL || !apiURL) {
  console.error("usage: node driver.mjs <jwks:ALG|hs256|both> <better-auth-url> <todod-url>");
  process.exit(2);
}
const hsSecret = process.env.HS_SECRET ?? "";
let checks = 0;

class Mismatch extends Error {}

function fail(what, details) {
  throw new Mismatch(`${what}\n${details.filter(Boolean).join("\n")}`);
}

function expect(what, got, want, ...details) {
  checks++;
  if (got !== want) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`, details);
}

function describeToken(token) {
  try {
    return `  token header ${JSON.stringify(decodeProtectedHeader(token))}\n  token claims ${JSON.stringify(decodeJwt(token))}`;
  } catch {
    return `  token is not a JWT (${token.split(".").length} dot-separated parts)`;
  }
}

async function call(method, url, { token, json, cookie, origin } = {}) {
  const headers = {};
  if (origin !== undefined) headers.origin = origin;
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (cookie !== undefined) headers.cookie = cookie;
  if (json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url, { method, headers, body: json === undefined ? undefined : JSON.stringify(json), redirect: "manual" });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body, text };
}

// todod answers; status and body are checked, and on a mismatch the token
// that was sent is decoded so the report says which claim or header was off.
async function todod(what, method, path, token, wantStatus, json) {
  const res = await call(method, apiURL + path, { token, json });
  expect(`${what}: ${method} ${path} status`, res.status, wantStatus,
    `  body: ${res.text.slice(0, 500)}`, token === undefined ? "" : describeToken(token));
  return res;
}

// Better Auth answers; a non-2xx here is a broken setup, not a todod finding.
// Requests carry the Origin a same-origin browser page sends: Better Auth's
// CSRF check refuses fetch requests without one.
async function betterAuth(method, path, opts = {}) {
  const res = await call(method, authURL + "/api/auth" + path, { ...opts, origin: new URL(authURL).origin });
  if (res.status !== 200) fail(`Better Auth ${method} ${path}: status ${res.status}, want 200`, [`  body: ${res.text.slice(0, 500)}`]);
  return res;
}

// signUp creates a user through Better Auth's email and password endpoint and
// returns its id, the session cookie a browser would hold and the session token.
async function signUp(name) {
  const email = `${name.toLowerCase()}-${Date.now()}@example.com`;
  const res = await betterAuth("POST", "/sign-up/email", { json: { email, password: "correct horse battery staple", name } });
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith("better-auth.session_token="));
  if (!setCookie) fail(`Better Auth sign-up of ${name} set no session cookie`, [`  set-cookie: ${res.headers.getSetCookie()}`]);
  const cookie = setCookie.split(";")[0];
  expect(`${name}'s user id from Better Auth looks like Better Auth's (32 alphanumerics)`, /^[A-Za-z0-9]{32}$/.test(res.body.user.id), true, `  id: ${res.body.user.id}`);
  return { name, id: res.body.user.id, email, cookie, sessionToken: res.body.token, cookieValue: decodeURIComponent(cookie.split("=")[1]) };
}

// The two ways a frontend gets the jwt() plugin's token: authClient.token()
// (GET /api/auth/token) and the set-auth-jwt header of getSession.
async function pluginTokens(user) {
  const viaEndpoint = (await betterAuth("GET", "/token", { cookie: user.cookie })).body?.token;
  const session = await betterAuth("GET", "/get-session", { cookie: user.cookie });
  const viaHeader = session.headers.get("set-auth-jwt");
  if (typeof viaEndpoint !== "string") fail(`GET /api/auth/token gave ${user.name} no token`, []);
  if (!viaHeader) fail(`GET /api/auth/get-session gave ${user.name} no set-auth-jwt header`, [`  headers: ${[...session.headers.keys()]}`]);
  for (const token of [viaEndpoint, viaHeader]) expect(`${user.name}'s plugin token sub`, decodeJwt(token).sub, user.id, describeToken(token));
  return { viaEndpoint, viaHeader, session: session.body };
}

// mintHS256 is the route handler of docs/authentication.md (b), given the
// session Better Auth returned.
function mintHS256(session, secret) {
  return new SignJWT({ email: session.user.email })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(session.user.id)
    .setIssuedAt()
    .setExpirationTime("15m")
    .sign(new TextEncoder().encode(secret));
}

// tamper swaps the token's payload for one naming another user, keeping the
// original header and signature: what an attacker holding a token would try.
function tamper(token, sub) {
  const [h, , s] = token.split(".");
  const claims = { ...decodeJwt(token), sub, id: sub };
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
}

async function expectRefused(what, token, wantDetail) {
  const res = await todod(what, "GET", "/api/tasks", token, 401);
  const www = res.headers.get("www-authenticate") ?? "";
  // RFC 6750 §3.1: a request without a token gets the challenge but no error code.
  const challenge = token === undefined ? /^Bearer realm="[^"]*"$/ : /^Bearer\b.*\berror="invalid_token"/;
  expect(`${what}: WWW-Authenticate`, challenge.test(www), true, `  WWW-Authenticate: ${www}`);
  expect(`${what}: problem status`, res.body?.status, 401, `  body: ${res.text}`);
  if (wantDetail !== undefined) expect(`${what}: detail`, res.body?.detail, wantDetail);
  return res;
}

// isolation runs the task story with two users, each holding two tokens
// (a, b) for the same identity, and checks that neither can reach the other.
async function isolation(A, B) {
  const created = await todod("A creates a task", "POST", "/api/tasks", A.tokens[0], 201, { title: `A's task via ${leg}` });
  expect("created task user_id", created.body.user_id, A.id);
  expect("created task title", created.body.title, `A's task via ${leg}`);
  expect("created task completed", created.body.completed, false);
  expect("created task Location", created.headers.get("location"), `/api/tasks/${created.body.id}`);
  const aTask = created.body.id;

  const bCreated = await todod("B creates a task on the plan's path", "POST", `/api/${B.id}/tasks`, B.tokens[1], 201, { title: "B's task" });
  expect("B's task user_id", bCreated.body.user_id, B.id);
  const bTask = bCreated.body.id;

  for (const [i, token] of A.tokens.entries()) {
    const list = await todod(`A lists with token ${i + 1}`, "GET", "/api/tasks", token, 200);
    expect(`A's list (token ${i + 1}) is only A's task`, JSON.stringify(list.body.map((t) => [t.id, t.user_id])), JSON.stringify([[aTask, A.id]]));
  }
  const planList = await todod("A lists on the plan's path", "GET", `/api/${A.id}/tasks`, A.tokens[1], 200);
  expect("A's list on the plan's path", JSON.stringify(planList.body.map((t) => t.id)), JSON.stringify([aTask]));
  const bList = await todod("B lists", "GET", "/api/tasks", B.tokens[0], 200);
  expect("B's list is only B's task", JSON.stringify(bList.body.map((t) => [t.id, t.user_id])), JSON.stringify([[bTask, B.id]]));

  const own = await todod("A reads its task", "GET", `/api/tasks/${aTask}`, A.tokens[1], 200);
  expect("A's task read back", own.body.id, aTask);
  const hidden = await todod("A reads B's task", "GET", `/api/tasks/${bTask}`, A.tokens[0], 404);
  const missing = await todod("A reads a task that does not exist", "GET", `/api/tasks/${bTask + 1000}`, A.tokens[0], 404);
  const strip = (p) => JSON.stringify({ ...p, instance: undefined });
  expect("B's task looks exactly like a missing one", strip(hidden.body), strip(missing.body));
  await todod("A deletes B's task", "DELETE", `/api/tasks/${bTask}`, A.tokens[1], 404);
  await todod("A completes B's task", "PATCH", `/api/tasks/${bTask}/complete`, A.tokens[0], 404);

  const forbidden = await todod("A lists on B's path", "GET", `/api/${B.id}/tasks`, A.tokens[0], 403);
  expect("403 problem status", forbidden.body?.status, 403);
  await todod("A creates on B's path", "POST", `/api/${B.id}/tasks`, A.tokens[1], 403, { title: "not mine" });
  await todod("A reads B's task on B's path", "GET", `/api/${B.id}/tasks/${bTask}`, A.tokens[0], 403);
  const bAfter = await todod("B lists after A's attempts", "GET", "/api/tasks", B.tokens[1], 200);
  expect("B's task is untouched", JSON.stringify(bAfter.body.map((t) => [t.id, t.title, t.completed])), JSON.stringify([[bTask, "B's task", false]]));

  await expectRefused("A's token rewritten to say it is B", tamper(A.tokens[0], B.id), "bad signature");
  await expectRefused("no token at all", undefined);
}

async function sessionTokensRefused(user) {
  await expectRefused("Better Auth's session token (not a JWT)", user.sessionToken, "malformed token: a JWT has three dot-separated parts");
  await expectRefused("Better Auth's signed session cookie value (not a JWT)", user.cookieValue, "malformed token: a JWT has three dot-separated parts");
}

// rotation waits for Better Auth to sign with a new key, which todod has not
// seen, and checks that todod fetches it (by kid) while the old key's tokens
// keep working for the grace period.
async function rotation(user, oldToken) {
  const seconds = Number(process.env.ROTATION_SECONDS);
  if (!seconds) fail("the rotation leg needs ROTATION_SECONDS", []);
  const oldKid = decodeProtectedHeader(oldToken).kid;
  const created = await todod("a task with the first key's token", "POST", "/api/tasks", oldToken, 201, { title: "before rotation" });
  let newToken;
  const deadline = Date.now() + (seconds + 10) * 1000;
  while (Date.now() < deadline) {
    const t = (await betterAuth("GET", "/token", { cookie: user.cookie })).body.token;
    if (decodeProtectedHeader(t).kid !== oldKid) {
      newToken = t;
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!newToken) fail(`Better Auth did not rotate its key within ${seconds + 10} s`, []);
  const newKid = decodeProtectedHeader(newToken).kid;
  const kids = (await betterAuth("GET", "/jwks")).body.keys.map((k) => k.kid);
  expect("the JWKS publishes the old and the new key", JSON.stringify([oldKid, newKid].map((k) => kids.includes(k))), "[true,true]", `  kids: ${kids}`);
  for (const [which, token] of [["new", newToken], ["old", oldToken]]) {
    const list = await todod(`list with the ${which} key's token`, "GET", "/api/tasks", token, 200);
    expect(`list with the ${which} key's token`, JSON.stringify(list.body.map((t) => t.id)), JSON.stringify([created.body.id]));
  }
  return `accepted: tokens signed with the first key (${oldKid}) and, after rotation, with the new one (${newKid})`;
}

async function main() {
  const jwks = (await betterAuth("GET", "/jwks")).body;
  const alice = await signUp("Alice");
  const bob = await signUp("Bob");
  const ta = await pluginTokens(alice);
  const tb = await pluginTokens(bob);
  const header = decodeProtectedHeader(ta.viaEndpoint);
  const claims = decodeJwt(ta.viaEndpoint);
  const plugin = `jwt() token header ${JSON.stringify(header)}, iss ${claims.iss}, aud ${JSON.stringify(claims.aud)}, exp-iat ${claims.exp - claims.iat}s`;
  let summary;

  if (leg.startsWith("jwks:")) {
    const alg = leg.slice(5);
    expect("Better Auth signs with the configured algorithm", header.alg, alg, describeToken(ta.viaEndpoint));
    expect("the token's kid is published at /api/auth/jwks", jwks.keys.some((k) => k.kid === header.kid), true, `  jwks: ${JSON.stringify(jwks)}`);
    await isolation({ ...alice, tokens: [ta.viaEndpoint, ta.viaHeader] }, { ...bob, tokens: [tb.viaEndpoint, tb.viaHeader] });
    await sessionTokensRefused(alice);
    await expectRefused("an HS256 token while no secret is configured", await mintHS256(ta.session, "x".repeat(32)), "HS256 tokens are not accepted: no shared secret is configured");
    summary = `accepted from /api/auth/token and set-auth-jwt: ${plugin}`;
  } else if (leg === "hs256") {
    const A = { ...alice, tokens: [await mintHS256(ta.session, hsSecret), await mintHS256(ta.session, hsSecret)] };
    const B = { ...bob, tokens: [await mintHS256(tb.session, hsSecret), await mintHS256(tb.session, hsSecret)] };
    await isolation(A, B);
    await sessionTokensRefused(alice);
    await expectRefused("an HS256 token signed with another secret", await mintHS256(ta.session, hsSecret + "-other"), "bad signature");
    await expectRefused("Better Auth's plugin JWT while no JWKS is configured", ta.viaEndpoint, `${header.alg} tokens are not accepted: no JWKS is configured`);
    summary = `accepted: HS256 {sub, email, iat, exp} minted with jose from Better Auth's session; refused: the ${header.alg} jwt() token`;
  } else if (leg === "both") {
    // Better Auth itself needs BETTER_AUTH_URL and BETTER_AUTH_SECRET, so one
    // shared .env gives todod both: the plugin's JWTs and the (b) route
    // handler's HS256 tokens, which carry no iss or aud, must both work.
    const hsA = await mintHS256(ta.session, hsSecret);
    const hsB = await mintHS256(tb.session, hsSecret);
    await isolation({ ...alice, tokens: [ta.viaEndpoint, hsA] }, { ...bob, tokens: [hsB, tb.viaHeader] });
    await expectRefused("an HS256 token signed with another secret", await mintHS256(ta.session, hsSecret + "-other"), "bad signature");
    summary = `accepted side by side: HS256 {sub, email, iat, exp} and the ${header.alg} jwt() token`;
  } else if (leg === "rotation") {
    summary = await rotation(alice, ta.viaEndpoint);
  } else {
    console.error(`driver: unknown leg ${leg}`);
    process.exit(2);
  }
  console.log(`ok  ${leg.padEnd(10)} ${String(checks).padStart(2)} checks; ${summary}`);
}

main().catch((err) => {
  console.error(`FAIL ${leg}: ${err instanceof Mismatch ? err.message : err.stack}`);
  process.exit(1);
});
