/**
 * Memory attack (issue 10, finding 4): many authenticated peers send max-size frames at once to
 * a node running in its own process. Its resident memory, read from `/proc/<pid>/status`, must
 * stay under a ceiling, and an honest peer's small message must still be delivered while the
 * attack runs.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fromHex, toHex } from "../../core/ids.ts";
import { MESSAGE_BYTES_MAX, TCP_READ_BUFFER_BYTES_MAX } from "../../core/limits.ts";
import { sleep, waitFor } from "../_transport_contract.ts";
import { attackerAddress, connectFrom, initiateOver, type RawClient } from "./_attack_util.ts";
import { localIdentityOf, makeIdentity, TestNet } from "./_test_util.ts";

const ATTACKERS = 48;
/** Max-size frames each attacker sends. */
const FRAMES_EACH = 4;
/**
 * What the receiver may hold at most: its resident memory before the attack, plus its frame
 * budget (`TCP_READ_BUFFER_BYTES_MAX`), plus an allowance for delivered messages the collector
 * has not reclaimed yet and for what the allocator keeps (every frame is a fresh 16 MiB message
 * for the handler; a single stream of them alone keeps 100-130 MiB resident here; this test
 * measured peaks of 230-310 MiB over the start). The allowance does not grow with the number
 * of attackers; before the budget the receiver held 16-32 MiB per attacker (48 -> 971 MiB
 * with 24 of them).
 */
const CEILING_OVER_START_BYTES = TCP_READ_BUFFER_BYTES_MAX + 320 * 1024 * 1024;

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new Error("no VmRSS");
  return Number(m[1]) * 1024;
}

/** Lines of a child's stdout, as they come. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const lines: string[] = [];
  let partial = "";
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      partial += value;
      const parts = partial.split("\n");
      partial = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return { lines, done };
}

Deno.test("attack: max-size frames from many peers stay within the receiver's memory", async () => {
  const attackers = Array.from({ length: ATTACKERS }, (_, i) => makeIdentity(`att-${i}`, 1));
  const net = new TestNet();
  const honest = net.node("honest");
  const honestKey = net.peers.get("honest")!.signingKey;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./_memory_receiver.ts", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const out = lineReader(child.stdout);
  const stdin = child.stdin.getWriter();
  const say = (line: string) => stdin.write(new TextEncoder().encode(`${line}\n`));
  const clients: RawClient[] = [];
  let peak = 0;
  let sampling = true;
  try {
    const peers = attackers.map((a) => ({ name: a.doc.name, key: toHex(a.keys.publicKey) }));
    peers.push({ name: "honest", key: toHex(honestKey) });
    await say(JSON.stringify({ peers }));
    await waitFor(() => out.lines.length > 0, 30_000, "the receiver to start");
    const info = JSON.parse(out.lines[0]) as { port: number; key: string };
    net.peers.set("victim", {
      signingKey: fromHex(info.key),
      contacts: [`tcp://127.0.0.1:${info.port}`],
    });
    await sleep(200);
    const start = rssBytes(child.pid);
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, rssBytes(child.pid));
        await sleep(20);
      }
    })();
    const target = { name: "victim", signingKey: fromHex(info.key) };
    const sessions = [];
    for (let i = 0; i < ATTACKERS; i++) {
      const client = await connectFrom(attackerAddress(31 + (i % 3), i), info.port);
      clients.push(client);
      const { result } = await initiateOver(client, localIdentityOf(attackers[i]), target);
      assert.ok(result.ok, `attacker ${i} is authenticated: ${!result.ok && result.reason}`);
      sessions.push({ client, session: result.session });
    }
    const big = new Uint8Array(MESSAGE_BYTES_MAX);
    let framesWritten = 0;
    const flood = Promise.all(sessions.map(async ({ client, session }) => {
      for (let f = 0; f < FRAMES_EACH; f++) {
        try {
          await client.write(session.seal(big));
          framesWritten++;
        } catch {
          return; // the receiver closed this connection
        }
      }
    }));
    // While the flood runs, an honest peer sends a small message.
    await waitFor(() => framesWritten >= ATTACKERS, 60_000, "the flood to start");
    honest.send("victim", Uint8Array.of(42));
    const delivered = () => out.lines.includes("got honest 1");
    await waitFor(() => delivered() || framesWritten === ATTACKERS * FRAMES_EACH, 60_000, "x");
    const duringAttack = delivered();
    await flood;
    await waitFor(delivered, 30_000, "the honest message");
    assert.ok(duringAttack, "the honest message arrived before the flood ended");
    await sleep(500);
    sampling = false;
    await sampler;
    await say("stats");
    await waitFor(() => out.lines.some((l) => l.startsWith('{"large"')), 10_000, "stats");
    const stats = JSON.parse(out.lines.find((l) => l.startsWith('{"large"'))!);
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
    console.log(
      `receiver RSS ${mib(start)} before, peak ${mib(peak)}; ${stats.large} large frames in`,
    );
    console.log(JSON.stringify(stats.pool), JSON.stringify(stats.memory));
    assert.ok(stats.large >= ATTACKERS, `the attack was real: ${stats.large} frames in`);
    assert.ok(stats.pool.peakBytes <= TCP_READ_BUFFER_BYTES_MAX, "the pool kept its budget");
    assert.ok(stats.pool.waits > 0, "large frames had to wait for the pool");
    assert.ok(
      peak <= start + CEILING_OVER_START_BYTES,
      `peak RSS ${mib(peak)} over ${mib(start + CEILING_OVER_START_BYTES)}`,
    );
  } finally {
    sampling = false;
    for (const c of clients) c.close();
    await stdin.close().catch(() => {});
    await child.status;
    await out.done;
    await honest.close();
  }
});
