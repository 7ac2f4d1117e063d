/**
 * Writer leases over HTTP against an attacker (issue 11): a stranger's key claiming a user's
 * name, a replayed older claim, another instance without a take-over, a claim for a name nobody
 * hosts, a flood of forged claims and a 16 MiB body. Each is refused with its reason and counted
 * in the server's summary line; the user's lease is unchanged and the user is still served.
 *
 * @module
 */

import assert from "node:assert/strict";
import { signLease } from "../core/protocol/identity.ts";
import { stepCryptoFor } from "../data/signing.ts";
import { createIdentity, publishIdentity } from "../net/identity_client.ts";
import { leaseToJson } from "../net/idserver_http.ts";
import { generateNodeKeys, type NodeKeys } from "../net/keys.ts";
import { Procs, SOURCES } from "./_procs.ts";

function lease(keys: NodeKeys, owner: string, epoch: number, instance: string, takeOver = false) {
  const sign = stepCryptoFor(keys.signingPrivateKey).sign;
  const now = Date.now();
  return signLease({
    owner,
    epoch,
    instance,
    machine: "m",
    issuedMs: now,
    expiresMs: now + 600_000,
    takeOver,
  }, sign);
}

function claim(url: string, owner: string, body: unknown) {
  return fetch(`${url}/${owner}/lease`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function outcome(res: Response): Promise<[number, string]> {
  const body = await res.json() as { outcome?: string; error?: string };
  return [res.status, body.outcome ?? body.error ?? "?"];
}

Deno.test({
  name: "idserver leases: strangers, replays, floods and 16 MiB bodies are refused and counted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const procs = new Procs();
    const dir = await Deno.makeTempDir({ prefix: "bitdust-lease-" });
    try {
      const server = procs.start("idserver", SOURCES, ["idserver", "--data", dir]);
      const url = (await server.waitFor(/^listening (http:\/\/\S+)$/))[1];
      const alice = generateNodeKeys("alice");
      const sign = stepCryptoFor(alice.signingPrivateKey).sign;
      assert.ok((await publishIdentity(url, createIdentity(alice, [url], [], 1, sign))).ok);

      const first = leaseToJson(lease(alice, "alice", 1, "a".repeat(32)));
      assert.deepEqual(await outcome(await claim(url, "alice", first)), [200, "granted"]);
      const second = leaseToJson(lease(alice, "alice", 2, "a".repeat(32)));
      assert.deepEqual(await outcome(await claim(url, "alice", second)), [200, "granted"]);

      // A fresh key under alice's name, even as a take-over at a higher epoch.
      const mallory = generateNodeKeys("alice");
      const forged = leaseToJson(lease(mallory, "alice", 99, "m".repeat(32), true));
      assert.deepEqual(await outcome(await claim(url, "alice", forged)), [403, "bad_signature"]);
      // alice's own older claim, replayed.
      assert.deepEqual(await outcome(await claim(url, "alice", first)), [409, "stale_epoch"]);
      // Another instance of alice without a take-over.
      const other = leaseToJson(lease(alice, "alice", 3, "b".repeat(32)));
      assert.deepEqual(await outcome(await claim(url, "alice", other)), [409, "held"]);
      // A name nobody hosts: nothing is kept for it.
      const nobody = leaseToJson(lease(mallory, "nobody", 1, "n".repeat(32)));
      assert.deepEqual(await outcome(await claim(url, "nobody", nobody)), [403, "unknown_owner"]);
      // 16 MiB: refused before it is read in full.
      const huge = await claim(url, "alice", "x".repeat(16 * 1024 * 1024)).catch(() => null);
      if (huge !== null) assert.deepEqual(await outcome(huge), [413, "oversized"]);
      // A flood of forged claims, 32 at a time.
      const FLOOD = 2_048; // 64 rounds of 32
      let refused = 0;
      for (let i = 0; i < FLOOD; i += 32) {
        const batch = Array.from({ length: 32 }, () => claim(url, "alice", forged).then(outcome));
        for (const [status] of await Promise.all(batch)) if (status === 403) refused++;
      }
      assert.equal(refused, FLOOD);

      // alice's lease is untouched and she is still served.
      const held = await (await fetch(`${url}/alice/lease`)).json() as { epoch: number };
      assert.equal(held.epoch, 2);
      const renewed = leaseToJson(lease(alice, "alice", 2, "a".repeat(32)));
      assert.deepEqual(await outcome(await claim(url, "alice", renewed)), [200, "granted"]);

      // Counted: the summary at shutdown names every refusal (forged, replay, held, unknown,
      // the flood; the oversized body is refused by the HTTP layer before the actor sees it).
      assert.equal(await server.stop("SIGTERM"), 0);
      const line = server.errors.find((l) => /bitdust idserver: stopped: /.test(l)) ?? "";
      const m = /(\d+) requests, (\d+) refused/.exec(line);
      assert.ok(m !== null, server.errors.join("\n"));
      assert.ok(Number(m[2]) >= FLOOD + 4, line);
    } finally {
      await procs.stopAll();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
