/**
 * The receiving node of the memory attack test (`transport_attack_memory_test.ts`), run as its
 * own process so that the test can read its resident memory from `/proc/<pid>/status`.
 *
 * Reads one JSON line from stdin: `{ peers: [{ name, key }], options? }` (keys in hex). Starts a
 * TCP transport named `victim` on 127.0.0.1 that knows those peers, prints one JSON line
 * `{ port, key }`, then one line `got <from> <bytes>` for every message under 1 KiB, and for
 * each further stdin line `stats` one JSON line of counters. Exits when stdin closes.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import { fromHex, toHex } from "../../core/ids.ts";
import { type PeerInfo, staticPeerResolver } from "../transport.ts";
import { makeIdentity } from "./_test_util.ts";
import { TcpTransport, type TcpTransportOptions } from "./transport.ts";

interface Config {
  peers: { name: NodeId; key: string; port?: number }[];
  options?: Partial<TcpTransportOptions>;
}

async function main(): Promise<void> {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string | null> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) return null;
      buffered += value;
    }
    const at = buffered.indexOf("\n");
    const line = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return line;
  };
  const config = JSON.parse((await nextLine())!) as Config;
  const peers = new Map<NodeId, PeerInfo>();
  for (const p of config.peers) {
    peers.set(p.name, { signingKey: fromHex(p.key), contacts: [`tcp://127.0.0.1:${p.port ?? 1}`] });
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const id = makeIdentity("victim", listener.addr.port);
  const transport = new TcpTransport({
    identity: id.doc,
    signingPrivateKey: id.keys.privateKey,
    resolver: staticPeerResolver(peers),
    listener,
    idleTimeoutMs: 600_000,
    ...config.options,
  });
  let large = 0;
  transport.onMessage((from, bytes) => {
    if (bytes.length < 1024) console.log(`got ${from} ${bytes.length}`);
    else large++;
  });
  console.log(JSON.stringify({ port: listener.addr.port, key: toHex(id.keys.publicKey) }));
  for (let line = await nextLine(); line !== null; line = await nextLine()) {
    if (line === "stats") {
      const pool = transport.readPool;
      console.log(JSON.stringify({
        large,
        counters: transport.counters,
        pool: { peakBytes: pool.peakBytes, waits: pool.waits, timeouts: pool.timeouts },
        memory: Deno.memoryUsage(),
      }));
    }
  }
  await transport.close();
}

if (import.meta.main) await main();
