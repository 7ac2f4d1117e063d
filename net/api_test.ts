import assert from "node:assert/strict";
import { apiApp, type DaemonControl, sameSecret } from "./api.ts";

const TOKEN = "a".repeat(64);

function control(): DaemonControl {
  return {
    status: () => Promise.resolve({ name: "alice" } as never),
    versions: () => Promise.resolve([]),
    startBackup: () => Promise.resolve("j1"),
    startRestore: () => Promise.resolve("j2"),
    job: () => undefined,
    jobs: () => [],
    cancel: () => {
      throw new Error("no job");
    },
    deleteVersion: () => Promise.resolve(),
  };
}

async function status(app: ReturnType<typeof apiApp>, authorization?: string): Promise<number> {
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  const res = await app.request("/status", { headers });
  await res.body?.cancel();
  return res.status;
}

Deno.test("API token: wrong, wrong-length, missing are 401; the right one is served", async () => {
  const app = apiApp(control(), TOKEN);
  assert.equal(await status(app), 401, "no header");
  assert.equal(await status(app, ""), 401, "empty header");
  assert.equal(await status(app, `Bearer ${"b".repeat(64)}`), 401, "same length, wrong");
  assert.equal(await status(app, `Bearer ${TOKEN.slice(0, 63)}`), 401, "one character short");
  assert.equal(await status(app, `Bearer ${TOKEN}0`), 401, "one character long");
  assert.equal(await status(app, `Bearer ${TOKEN.repeat(100)}`), 401, "much longer");
  assert.equal(await status(app, TOKEN), 401, "no scheme");
  assert.equal(await status(app, `Basic ${TOKEN}`), 401, "another scheme");
  assert.equal(await status(app, `Bearer ${TOKEN}`), 200, "the right token");
});

Deno.test("sameSecret() compares digests: equal, unequal, any lengths, never throws", () => {
  assert.equal(sameSecret("", ""), true);
  assert.equal(sameSecret("x", "x"), true);
  assert.equal(sameSecret(TOKEN, TOKEN), true);
  assert.equal(sameSecret(TOKEN, "b".repeat(64)), false);
  assert.equal(sameSecret(TOKEN, TOKEN.slice(1)), false, "different lengths do not throw");
  assert.equal(sameSecret("", TOKEN), false);
  assert.equal(sameSecret("grüße", "grüße"), true);
  assert.equal(sameSecret("grüße", "grusse"), false);
});

Deno.test("the API checks its token only through sameSecret (constant time)", async () => {
  // The comparison of a secret must not be an early-exit string comparison: the token check in
  // api.ts reads the header once, hands it to sameSecret, and compares it nowhere else.
  const source = await Deno.readTextFile(new URL("./api.ts", import.meta.url));
  const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
  assert.match(code, /sameSecret\(\s*c\.req\.header\("authorization"\)/);
  assert.equal(code.match(/header\("authorization"\)/g)?.length, 1, "read in one place");
  assert.doesNotMatch(code, /[!=]==?\s*`Bearer|`Bearer \$\{token\}`\s*[!=]==?/);
  assert.doesNotMatch(code, /[!=]==?\s*(expected|token)\b|\b(expected|token)\s*[!=]==?/);
  assert.match(code, /timingSafeEqual\(/);
});

Deno.test("API: jobs and cancel need the token; a stranger cancels nothing", async () => {
  let cancels = 0;
  const app = apiApp({ ...control(), cancel: () => (cancels++, { jobId: "1" } as never) }, TOKEN);
  for (const [method, path] of [["GET", "/jobs"], ["POST", "/jobs/1/cancel"]]) {
    const res = await app.request(path, { method, headers: { authorization: "Bearer x" } });
    await res.body?.cancel();
    assert.equal(res.status, 401, `${method} ${path}`);
  }
  assert.equal(cancels, 0);
  const ok = await app.request("/jobs/1/cancel", {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  await ok.body?.cancel();
  assert.equal(ok.status, 200);
  assert.equal(cancels, 1, "the token's owner is served");
});
