import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Actor, Effect, StepContext } from "../core/actor.ts";
import { NO_EFFECTS } from "../core/actor.ts";
import type { Message } from "../core/protocol/mod.ts";
import { simRelay } from "./relay.ts";
import type { SimNode, SimRelay, Simulator } from "./simulator.ts";
import { recorder, recorderState, type TestProtocol, testSim } from "./testing.ts";

type Sim = Simulator<TestProtocol>;
type TE = Effect<TestProtocol>;

/** Runs ten seconds of virtual time (every message here arrives within them). */
function drive(sim: Simulator<TestProtocol>): void {
  sim.runUntil(sim.nowMs + 10_000);
}

const ping = (seq: number): Message => ({ type: "ping", seq, sentMs: 0 });

/** A stand-in router: passes each envelope on, or tampers with it as told. */
function forwarder(
  tamper: "none" | "flip" | "rename",
  seen: Uint8Array[] = [],
): Actor<null, TestProtocol> {
  return {
    step(_s, input): readonly TE[] {
      if (input.kind !== "message" || input.message.type !== "relay") return NO_EFFECTS;
      const m = input.message;
      seen.push(m.envelope);
      const envelope = tamper === "flip" ? m.envelope.slice() : m.envelope;
      if (tamper === "flip") envelope[envelope.length - 1] ^= 1;
      const from = tamper === "rename" ? "c" : input.from;
      return [{ kind: "send", to: m.to, message: { type: "relayed", from, envelope } }];
    },
    nextDeadlineMs: () => null,
    invariants: () => {},
  };
}

/** Sends a ping with `dial` when told to send (a dial-back). */
const dialer: Actor<null, TestProtocol> = {
  step(_s, input, _ctx: StepContext): readonly TE[] {
    if (input.kind !== "command" || !("send" in input.command)) return NO_EFFECTS;
    return [{ kind: "send", to: input.command.send, message: ping(9), dial: true }];
  },
  nextDeadlineMs: () => null,
  invariants: () => {},
};

function received(node: SimNode<TestProtocol>): string[] {
  const s = node.state as ReturnType<typeof recorderState>;
  return s.received.map((r) => `${r.from}:${r.message.type}`);
}

/** A network of `a` (public), `b` (behind NAT) and optionally a router `r` for `b`. */
function world(seed: number, relay?: (sim: () => Sim) => SimRelay<TestProtocol>) {
  let sim: Sim | null = null;
  sim = testSim(seed, { relay: relay?.(() => sim!), natIdleMs: 60_000 });
  const a = sim.addNode("a", recorder, recorderState(), "a");
  const b = sim.addNode("b", recorder, recorderState(), "b");
  sim.network.setNat(b.index, true);
  return { sim, a, b };
}

Deno.test("NAT: nothing reaches a node behind NAT until it opens a session", () => {
  const { sim, a, b } = world(1);
  sim.command(a, { send: "b", message: ping(1) });
  drive(sim);
  assertEquals(received(b), []);
  assertEquals(sim.counters.dropNat, 1);
  // b dials out: a's answer comes back over b's session, and so does what a sends next.
  sim.command(b, { send: "a", message: ping(2) });
  drive(sim);
  assertEquals(received(b), ["a:pong"]);
  sim.command(a, { send: "b", message: ping(3) });
  drive(sim);
  assertEquals(received(b), ["a:pong", "a:ping"]);
  // The session times out without traffic.
  sim.runUntil(sim.nowMs + 120_000);
  sim.command(a, { send: "b", message: ping(4) });
  drive(sim);
  assertEquals(received(b).length, 2);
  assertEquals(sim.counters.dropNat, 2);
});

Deno.test("NAT: a dial-back never passes a NAT, even over an open session", () => {
  const sim = testSim(2, { natIdleMs: 60_000 });
  const d = sim.addNode("d", dialer, null, "d");
  const pub = sim.addNode("p", recorder, recorderState(), "p");
  const nat = sim.addNode("q", recorder, recorderState(), "q");
  sim.network.setNat(nat.index, true);
  sim.command(nat, { send: "d", message: ping(1) }); // opens q's session to d
  drive(sim);
  sim.command(d, { send: "p", message: ping(0) });
  sim.command(d, { send: "q", message: ping(0) });
  drive(sim);
  assertEquals(received(pub), ["d:ping"]);
  assertEquals(received(nat), []);
  assertEquals(sim.counters.dropNat, 1);
});

function viaRouter(seed: number, tamper: "none" | "flip" | "rename", seen?: Uint8Array[]) {
  const relay = (sim: () => Sim): SimRelay<TestProtocol> => ({
    ...simRelay<TestProtocol>(seed, (n) => n.role === "router", (i) => sim().nodes[i]),
    contactOf: (target) => (target.id === "b" ? "r" : null),
  });
  const w = world(seed, relay);
  const r = w.sim.addNode("router", forwarder(tamper, seen), null, "r");
  w.sim.addNode("c", recorder, recorderState(), "c");
  // b keeps a session to its router (a route client does this with registrations and pongs).
  w.sim.command(w.b, { send: "r", message: ping(0) });
  drive(w.sim);
  return { ...w, r };
}

Deno.test("NAT: a message without a session goes through the node's router, sealed", () => {
  const { sim, a, b } = viaRouter(3, "none");
  sim.command(a, { send: "b", message: ping(7) });
  drive(sim);
  // b got a's ping as from a; its pong went straight back to a (a is public).
  assertEquals(received(b), ["a:ping"]);
  assertEquals(received(a), ["b:pong"]);
  assertEquals(sim.counters.relayWrapped, 1);
  assertEquals(sim.counters.relayOpened, 1);
  assertEquals(sim.counters.dropNat, 0);
  // b answered a directly, which opened b's session to a: a's next message goes direct.
  sim.command(a, { send: "b", message: ping(8) });
  drive(sim);
  assertEquals(received(b), ["a:ping", "a:ping"]);
  assertEquals(sim.counters.relayWrapped, 1);
});

Deno.test("NAT: an envelope the router alters or renames does not open, and is counted", () => {
  for (const tamper of ["flip", "rename"] as const) {
    const { sim, a, b } = viaRouter(4, tamper);
    sim.command(a, { send: "b", message: ping(7) });
    drive(sim);
    assertEquals(received(b), [], tamper);
    assertEquals(sim.counters.relayRejected, 1, tamper);
    assertEquals(sim.counters.relayOpened, 0, tamper);
  }
});

Deno.test("NAT: the router's own copy of an envelope holds none of the frame in the clear", () => {
  const seen: Uint8Array[] = [];
  const { sim, a, b } = viaRouter(5, "none", seen);
  const marker = new TextEncoder().encode("a plaintext marker that must not show");
  const store: Message = {
    type: "store",
    requestId: 1,
    epoch: 0,
    key: "k",
    hash: new Uint8Array(32),
    data: marker,
  };
  sim.command(a, { send: "b", message: store });
  drive(sim);
  assertEquals(seen.length, 1);
  const text = new TextDecoder("latin1").decode(seen[0]);
  assertEquals(text.includes("plaintext marker"), false);
  assertEquals(received(b), ["a:store"]); // and b got it whole
});
