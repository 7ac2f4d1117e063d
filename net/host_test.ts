import assert from "node:assert/strict";
import type { Actor, Effect, Input, Protocol } from "../core/actor.ts";
import { encodeIdentity, signIdentity } from "../core/identity.ts";
import { Random } from "../core/prng.ts";
import {
  idServerActor,
  type IdServerNotice,
  type IdServerProtocol,
  idServerState,
} from "../actors/idserver/mod.ts";
import { generateSigningKeyPair, stepCryptoFor } from "../data/signing.ts";
import { MemoryBlobStore } from "./blob_store.ts";
import { Host } from "./host.ts";

function waitFor<T>(host: { subscribe(fn: (n: T) => void): () => void }, pred: (n: T) => boolean) {
  return new Promise<T>((resolve) => {
    const off = host.subscribe((n) => {
      if (pred(n)) {
        off();
        resolve(n);
      }
    });
  });
}

Deno.test("Host runs the ID server: loads, answers after the write, survives restart", async () => {
  const store = new MemoryBlobStore();
  const make = () =>
    new Host<ReturnType<typeof idServerState>, IdServerProtocol>({
      actor: idServerActor,
      state: idServerState(),
      self: "ids",
      crypto: stepCryptoFor(),
      random: Random.stream(1),
      store,
    });
  const host = make();
  const ready = waitFor<IdServerNotice>(host, (n) => n.type === "ready");
  host.start();
  await ready;
  const keys = generateSigningKeyPair();
  const doc = signIdentity({
    name: "alice",
    signingKey: keys.publicKey,
    agreementKey: new Uint8Array(32),
    contacts: [],
    sources: ["http://127.0.0.1:1"],
    revision: 1,
    dateMs: 0,
  }, stepCryptoFor(keys.privateKey).sign);
  const reply = waitFor<IdServerNotice>(host, (n) => n.type === "identity_publish_reply");
  host.deliver({
    kind: "command",
    command: { type: "identity_publish", requestId: 1, document: encodeIdentity(doc) },
  });
  assert.equal((await reply as { outcome: string }).outcome, "stored");
  await host.stop();
  const again = make();
  const readyAgain = waitFor<IdServerNotice>(again, (n) => n.type === "ready");
  again.start();
  assert.deepEqual(await readyAgain, { type: "ready", identities: 1, corrupt: 0 });
  await again.stop();
});

interface TickProtocol extends Protocol {
  message: never;
  job: number;
  jobResult: number;
  command: "arm" | "job" | "boom";
  notice: string;
}
interface TickState {
  dueMs: number | null;
  fired: number;
}

const tickActor: Actor<TickState, TickProtocol> = {
  step(state, input: Input<TickProtocol>, ctx): Effect<TickProtocol>[] {
    if (input.kind === "command" && input.command === "arm") state.dueMs = ctx.nowMs + 20;
    if (input.kind === "command" && input.command === "job") {
      return [{ kind: "job", id: 1, job: 20 }];
    }
    if (input.kind === "command" && input.command === "boom") throw new Error("bug");
    if (input.kind === "job_done") return [{ kind: "notice", notice: `job ${input.result}` }];
    if (input.kind === "timeout" && state.dueMs !== null && input.nowMs >= state.dueMs) {
      state.dueMs = null;
      state.fired++;
      return [{ kind: "notice", notice: "fired" }, { kind: "trace", event: "tick" }];
    }
    return [];
  },
  nextDeadlineMs: (state) => state.dueMs,
  invariants: (state) => assert.ok(state.fired >= 0),
};

function tickHost(fatal: unknown[] = [], traces: string[] = []) {
  return new Host<TickState, TickProtocol>({
    actor: tickActor,
    state: { dueMs: null, fired: 0 },
    self: "t",
    crypto: stepCryptoFor(),
    random: Random.stream(2),
    store: new MemoryBlobStore(),
    runJob: (n) => n * 2,
    trace: (event) => traces.push(event),
    onFatal: (e) => fatal.push(e),
  });
}

Deno.test("Host arms one timer for the earliest deadline and runs jobs", async () => {
  const traces: string[] = [];
  const host = tickHost([], traces);
  const fired = waitFor(host, (n) => n === "fired");
  host.deliver({ kind: "command", command: "arm" });
  await fired;
  assert.equal(host.state.fired, 1);
  assert.deepEqual(traces, ["tick"]);
  const job = waitFor(host, (n) => n.startsWith("job"));
  host.deliver({ kind: "command", command: "job" });
  assert.equal(await job, "job 40");
  await host.stop();
});

Deno.test("Host queues inputs delivered from inside a step and stops on a bug", async () => {
  const fatal: unknown[] = [];
  const host = tickHost(fatal);
  const seen: string[] = [];
  host.subscribe((n) => {
    seen.push(n);
    if (n === "job 40") host.deliver({ kind: "command", command: "boom" });
  });
  host.deliver({ kind: "command", command: "job" });
  await host.settled();
  assert.deepEqual(seen, ["job 40"]);
  assert.equal(fatal.length, 1);
  host.deliver({ kind: "command", command: "arm" }); // ignored: stopped
  assert.equal(host.state.dueMs, null);
  await host.stop();
});

Deno.test("Host: two nodes seeded alike draw different secrets (ctx.secret is the CSPRNG)", () => {
  interface P extends Protocol {
    message: never;
    job: never;
    jobResult: never;
    command: "draw";
    notice: { random: string; secret: string };
  }
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const drawer: Actor<null, P> = {
    step: (_s, input: Input<P>, ctx): Effect<P>[] =>
      input.kind !== "command" ? [] : [{
        kind: "notice",
        notice: { random: hex(ctx.random.bytes(16)), secret: hex(ctx.secret.bytes(16)) },
      }],
    nextDeadlineMs: () => null,
    invariants: () => {},
  };
  const draw = () => {
    const host = new Host<null, P>({
      actor: drawer,
      state: null,
      self: "n",
      crypto: stepCryptoFor(),
      random: Random.stream(42), // the same (predictable) seed on both "machines"
      store: new MemoryBlobStore(),
    });
    let got: P["notice"] | undefined;
    host.subscribe((n) => got = n);
    host.deliver({ kind: "command", command: "draw" });
    return got!;
  };
  const a = draw();
  const b = draw();
  assert.equal(a.random, b.random, "the seeded stream repeats, as a 32-bit seed would");
  assert.notEqual(a.secret, b.secret, "secrets must not repeat");
});
