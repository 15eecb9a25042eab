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
//               every ROTATION_SECONDS: the new key's first token is accepted
//               at once, or refused as an unknown key (401) until todod may
//               fetch the JWKS again (10 s after its last fetch), and the old key's
//               tokens (still published) keep working.
// The shared secret, where used, comes from the environment (HS_SECRET).
//
// Prints one line on success; on the first mismatch prints what was expected,
// what came back and the token's decoded header and claims, and exits 1.
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from "jose";

const [leg, authURL, apiURL] = process.argv.slice(2);
if (!leg || !authURL || !apiURL) {
  console.error("usage: node driver.mjs <jwks:ALG|hs256|both|rotation> <better-auth-url> <todod-url>");
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

// jwksFetches reads how many JWKS fetches todod has finished, by result.
async function jwksFetches() {
  const res = await call("GET", apiURL + "/metrics");
  if (res.status !== 200) fail(`todod GET /metrics: status ${res.status}, want 200`, []);
  const count = (result) => {
    const m = res.text.match(new RegExp(`^todod_jwks_refreshes_total\\{result="${result}"\\} ([0-9]+)$`, "m"));
    if (!m) fail(`todod /metrics has no todod_jwks_refreshes_total{result="${result}"}`, []);
    return Number(m[1]);
  };
  return { success: count("success"), failure: count("failure") };
}

// expectUnknownKey checks todod's answer to a token whose key it has not
// fetched and may not fetch yet: 401, as for any unknown kid, with the
// problem detail and WWW-Authenticate that say so.
function expectUnknownKey(what, res, details) {
  expect(`${what}: status`, res.status, 401, ...details);
  expect(`${what}: WWW-Authenticate`, /error="invalid_token"/.test(res.headers.get("www-authenticate") ?? ""), true, ...details);
  expect(`${what}: problem detail`, res.body?.detail, "token signed with an unknown key", ...details);
}

const sleep = (seconds) => new Promise((r) => setTimeout(r, seconds * 1000));

// untilAccepted sends the same POST once a second until todod accepts it (its
// next JWKS fetch is allowed 10 s after the last one), at most 15 times, and
// returns the 201 and the seconds it waited.
async function untilAccepted(what, token, json) {
  const start = performance.now();
  for (let i = 0; i < 15; i++) {
    await sleep(1);
    const res = await call("POST", apiURL + "/api/tasks", { token, json });
    if (res.status === 201) return { res, waited: (performance.now() - start) / 1000 };
    expectUnknownKey(`${what} while todod may not fetch again`, res, [describeToken(token)]);
  }
  fail(`${what}: still refused 15 s later`, [describeToken(token)]);
}

// rotation is a key rotation as a frontend meets it. Better Auth's key
// expires ROTATION_SECONDS after it is made and the next token it signs
// brings a new one; todod fetches the JWKS again for an unknown kid at most
// once per 10 s (MinRefreshInterval). A token of a key made since todod's
// last fetch is refused like any unknown kid (401) inside that window, and
// the same token is accepted once the window has passed; after it, todod
// fetches and accepts at once. Which one happened must match the time since todod's
// last fetch as measured here (that fetch started after TODOD_STARTED_MS, wall
// clock, and before the first key's token was accepted), and the fetches todod
// counts on /metrics. Tokens of the old key, still published, keep working
// throughout; a kid Better Auth never published stays 401.
async function rotation(user, oldToken) {
  const seconds = Number(process.env.ROTATION_SECONDS);
  const todoStarted = Number(process.env.TODOD_STARTED_MS);
  if (!seconds || !todoStarted) fail("the rotation leg needs ROTATION_SECONDS and TODOD_STARTED_MS", []);
  const oldKid = decodeProtectedHeader(oldToken).kid;

  // todod fetched the JWKS when it started. The first key may already have
  // been rotated then (on a slow machine signing up takes longer than
  // ROTATION_SECONDS); then this token waits too, as a frontend would.
  let created = await call("POST", apiURL + "/api/tasks", { token: oldToken, json: { title: "before rotation" } });
  let firstWaited = 0;
  let fetchedAfterWall = todoStarted;
  if (created.status !== 401) {
    expect("the first key's token: POST /api/tasks status", created.status, 201, `  body: ${created.text.slice(0, 500)}`, describeToken(oldToken));
  } else {
    expectUnknownKey("the first key's token", created, [describeToken(oldToken)]);
    const waitedFrom = Date.now();
    ({ res: created, waited: firstWaited } = await untilAccepted("the first key's token", oldToken, { title: "before rotation" }));
    firstWaited = Math.round(firstWaited);
    fetchedAfterWall = waitedFrom;
  }
  // todod's last fetch started before this moment, and no token reaches
  // todod before the new one, so no later fetch can start: any key Better
  // Auth publishes from now on is new to todod.
  const fetchedBy = performance.now();
  const before = (await betterAuth("GET", "/jwks")).body.keys.map((k) => k.kid);
  expect("the first key is published", before.includes(oldKid), true, `  kids: ${before}`);

  let newToken;
  const patience = seconds + 30;
  const deadline = Date.now() + patience * 1000;
  while (Date.now() < deadline) {
    const t = (await betterAuth("GET", "/token", { cookie: user.cookie })).body.token;
    if (!before.includes(decodeProtectedHeader(t).kid)) {
      newToken = t;
      break;
    }
    await sleep(0.2);
  }
  if (!newToken) fail(`Better Auth did not rotate its key within ${patience} s`, []);
  const newKid = decodeProtectedHeader(newToken).kid;
  const kids = (await betterAuth("GET", "/jwks")).body.keys.map((k) => k.kid);
  expect("the JWKS publishes the old and the new key", JSON.stringify([oldKid, newKid].map((k) => kids.includes(k))), "[true,true]", `  kids: ${kids}`);

  const fetches = await jwksFetches();
  // Seconds from todod's last fetch to its answer to the new token.
  const sendFrom = performance.now();
  const first = await call("POST", apiURL + "/api/tasks", { token: newToken, json: { title: "after rotation" } });
  const sinceFetch = [(sendFrom - fetchedBy) / 1000, (Date.now() - fetchedAfterWall) / 1000];
  const span = `${sinceFetch[0].toFixed(1)}-${sinceFetch[1].toFixed(1)} s after todod's fetch`;
  const details = [`  ${span}`, `  body: ${first.text.slice(0, 500)}`, describeToken(newToken)];
  let after, how;
  if (first.status === 401) {
    expect("401 for the new key's token only while todod may not fetch (< 10 s after its fetch)", sinceFetch[0] < 10, true, ...details);
    expectUnknownKey("the new key's token", first, details);
    expect("the refusal cost no JWKS fetch", JSON.stringify(await jwksFetches()), JSON.stringify(fetches));
    const during = await todod("list with the old key's token while the new one is refused", "GET", "/api/tasks", oldToken, 200);
    expect("the refusal created nothing; the old key's token still lists", JSON.stringify(during.body.map((t) => t.id)), JSON.stringify([created.body.id]));
    const { res, waited } = await untilAccepted("the new key's token", newToken, { title: "after rotation" });
    after = res;
    expect("the new key's token is accepted once todod may fetch (about 10 s after its fetch)", sinceFetch[0] + waited >= 9, true, ...details);
    how = `401 (${span}), then 201 for the same token ${waited.toFixed(1)} s later, once todod could fetch again`;
  } else if (first.status === 201) {
    expect("201 at once for the new key's token only once todod may fetch again (>= 10 s after its fetch)", sinceFetch[1] >= 10, true, ...details);
    after = first;
    how = `201 at once (${span}: the 10 s limit had passed)`;
  } else {
    fail(`the new key's token: POST /api/tasks status: got ${first.status}, want 401 (unknown key, within todod's 10 s limit) or 201`, details);
  }
  expect("task created with the new key's token", after.body.title, "after rotation");
  expect("the new key cost one JWKS fetch", JSON.stringify(await jwksFetches()), JSON.stringify({ ...fetches, success: fetches.success + 1 }));
  for (const [which, token] of [["new", newToken], ["old", oldToken]]) {
    const list = await todod(`list with the ${which} key's token`, "GET", "/api/tasks", token, 200);
    expect(`list with the ${which} key's token, newest first`, JSON.stringify(list.body.map((t) => t.id)), JSON.stringify([after.body.id, created.body.id]));
  }

  // A key Better Auth never published: 401.
  const { privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const now = Math.floor(Date.now() / 1000);
  const origin = new URL(authURL).origin;
  const forged = await new SignJWT({ email: user.email })
    .setProtectedHeader({ alg: "EdDSA", kid: "never-published" })
    .setSubject(user.id).setIssuer(origin).setAudience(origin)
    .setIssuedAt(now - 300).setExpirationTime(now + 600)
    .sign(privateKey);
  await expectRefused("a token issued 5 min ago by a key Better Auth never published", forged, "token signed with an unknown key");

  const firstNote = firstWaited ? ` (the first key's token itself was accepted ${firstWaited} s later: its key was made after todod's start-up fetch)` : "";
  return `new key's token: ${how}; old key's token still accepted${firstNote}; kids ${oldKid} -> ${newKid}`;
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
