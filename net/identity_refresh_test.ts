import assert from "node:assert/strict";
import {
  idServerActor,
  type IdServerProtocol,
  type IdServerState,
  idServerState,
} from "../actors/idserver/mod.ts";
import { Random } from "../core/prng.ts";
import { stepCryptoFor } from "../data/signing.ts";
import { MemoryBlobStore } from "./blob_store.ts";
import { Host } from "./host.ts";
import { createIdentity, publishIdentity } from "./identity_client.ts";
import { IdentityRefresher } from "./identity_refresh.ts";
import { idServerApp } from "./idserver_http.ts";
import { generateNodeKeys } from "./keys.ts";

async function idServer() {
  const host = new Host<IdServerState, IdServerProtocol>({
    actor: idServerActor,
    state: idServerState(),
    self: "idserver",
    crypto: stepCryptoFor(),
    random: Random.stream(3),
    store: new MemoryBlobStore(),
  });
  const ready = new Promise<void>((resolve) =>
    host.subscribe((n) => n.type === "ready" && resolve())
  );
  host.start();
  await ready;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    idServerApp(host).fetch,
  );
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return {
    url,
    host,
    close: async () => {
      await server.shutdown();
      await host.stop();
    },
  };
}

/** Polls `ok` until it holds, for at most `rounds` short waits. */
async function until(what: string, ok: () => boolean, rounds = 400): Promise<void> {
  for (let i = 0; i < rounds && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
}

/** A port on 127.0.0.1 nothing listens on. */
function deadPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("IdentityRefresher re-publishes periodically; the server answers unchanged", async () => {
  const ids = await idServer();
  const keys = generateNodeKeys("alice");
  const sign = stepCryptoFor(keys.signingPrivateKey).sign;
  const doc = createIdentity(keys, [ids.url], [], 1000, sign);
  const refresher = new IdentityRefresher({ document: doc, idServers: [ids.url], intervalMs: 20 });
  try {
    assert.deepEqual(await publishIdentity(ids.url, doc), { ok: true, outcome: "stored" });
    const counters = ids.host.state.counters;
    refresher.start();
    // The server counts a refresh before its answer reaches the refresher: wait for both.
    await until(
      "three refreshes",
      () => (counters["publish.refreshed"] ?? 0) >= 3 && refresher.counters.accepted >= 3,
    );
    assert.equal(counters["publish.stored"], 1, "refreshes store nothing new");
    assert.ok(refresher.counters.accepted >= 3);
    assert.equal(refresher.counters.failed + refresher.counters.refused, 0);
    await refresher.stop();
    const after = counters["publish.refreshed"];
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(counters["publish.refreshed"], after, "nothing after stop()");
    // A server that lost the identity gets it back at the next round.
    ids.host.state.docs.clear();
    ids.host.state.names.length = 0;
    ids.host.state.keyNames.clear();
    const report = await new IdentityRefresher({ document: doc, idServers: [ids.url] })
      .refreshNow();
    assert.deepEqual(report, [{ source: ids.url, result: { ok: true, outcome: "stored" } }]);
  } finally {
    await refresher.stop();
    await ids.close();
  }
});

Deno.test("IdentityRefresher retries soon when a server is down, daily when refused", async () => {
  const ids = await idServer();
  const dead = `http://127.0.0.1:${deadPort()}`;
  const keys = generateNodeKeys("bob");
  const sign = stepCryptoFor(keys.signingPrivateKey).sign;
  const doc = createIdentity(keys, [ids.url, dead], [], 1000, sign);
  const traced: string[] = [];
  const refresher = new IdentityRefresher({
    document: doc,
    idServers: [ids.url, dead],
    intervalMs: 60 * 60 * 1000, // the daily round never comes in this test
    retryMs: 20,
    http: { timeoutMs: 1000 },
    trace: (event, detail) => traced.push(`${event} ${detail?.reason}`),
  });
  try {
    await refresher.refreshNow();
    await until("retries of the dead server", () => refresher.counters.failed >= 3);
    assert.ok(traced.includes("identity.refresh_failed unreachable"), traced.join("; "));
    assert.ok(refresher.counters.accepted >= 3, "the live server is refreshed on each round");
    await refresher.stop();
    // Another key holds the name: refused, not retried soon.
    const mallory = generateNodeKeys("bob");
    const takeover = createIdentity(
      mallory,
      [ids.url],
      [],
      1000,
      stepCryptoFor(mallory.signingPrivateKey).sign,
    );
    const refused = new IdentityRefresher({
      document: takeover,
      idServers: [ids.url],
      intervalMs: 60 * 60 * 1000,
      retryMs: 20,
    });
    await refused.refreshNow();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(refused.counters, { rounds: 1, accepted: 0, failed: 0, refused: 1 });
    await refused.stop();
  } finally {
    await refresher.stop();
    await ids.close();
  }
});
