import assert from "node:assert/strict";
import fc from "fast-check";
import { check } from "../data/_fc_test_util.ts";
import * as seal from "../data/seal.ts";
import { generateSigningKeyPair, stepCryptoFor } from "../data/signing.ts";
import { encode, string, struct, uint } from "./codec.ts";
import { MESSAGE_BYTES_MAX, PACKET_TIME_SKEW_MS_MAX, REPLAY_WINDOW } from "./limits.ts";
import {
  checkPacket,
  createPacketGuard,
  decodePacket,
  encodePacket,
  encodeSignedPacket,
  initialSequence,
  openPacket,
  type Packet,
  PACKET_REJECT_REASONS,
  type PacketCheckContext,
  type PacketGuard,
  type PacketRejectReason,
  sealPacket,
  signStatement,
  statementBytes,
  verifyStatement,
} from "./packet.ts";

const alice = generateSigningKeyPair();
const mallory = generateSigningKeyPair();
const aliceCrypto = stepCryptoFor(alice.privateKey);
const malloryCrypto = stepCryptoFor(mallory.privateKey);
const bobBox = seal.generateX25519KeyPair();
const NOW = 1_700_000_000_000;

/** A message as the protocol union encodes it: tag 1, then fields. */
const Ping = struct({ tag: uint, seq: uint, note: string(64) });

function packet(over: Partial<Packet> = {}): Packet {
  return {
    command: 1,
    sender: "alice",
    recipient: "bob",
    packetId: "p1",
    createdMs: NOW,
    seq: 100,
    sealed: false,
    payload: encode(Ping, { tag: 1, seq: 7, note: "hello" }).slice(),
    ...over,
  };
}

function ctx(over: Partial<PacketCheckContext> = {}): PacketCheckContext {
  return {
    nowMs: NOW,
    from: "alice",
    signingKeyOf: (name) => (name === "alice" ? alice.publicKey : undefined),
    crypto: aliceCrypto,
    ...over,
  };
}

Deno.test("a plain packet from the link's peer is accepted once", () => {
  const guard = createPacketGuard("bob");
  const bytes = encodePacket(packet());
  const first = checkPacket(guard, bytes, ctx());
  assert.ok(first.ok);
  assert.deepEqual(first.packet, packet());
  assert.equal(first.signed, false);
  const again = checkPacket(guard, bytes, ctx());
  assert.deepEqual(again, { ok: false, reason: "replayed", detail: "alice#100" });
  assert.equal(guard.counters.accepted, 1);
  assert.equal(guard.counters.replayed, 1);
});

Deno.test("a signed packet is accepted through a third party", () => {
  const guard = createPacketGuard("bob");
  const bytes = encodeSignedPacket(packet(), aliceCrypto.sign);
  const result = checkPacket(guard, bytes, ctx({ from: "router-1" }));
  assert.ok(result.ok && result.signed);
  const noLink = checkPacket(guard, encodeSignedPacket(packet({ seq: 101 }), aliceCrypto.sign), {
    ...ctx(),
    from: undefined,
  });
  assert.ok(noLink.ok);
});

/** Bytes and context that reach each rejection reason of checkPacket / openPacket. */
function rejectionCase(reason: PacketRejectReason): { guard: PacketGuard; result: unknown } {
  const guard = createPacketGuard("bob");
  const run = (bytes: Uint8Array, c = ctx()) => checkPacket(guard, bytes, c);
  const signed = (p: Packet, sign = aliceCrypto.sign) => encodeSignedPacket(p, sign);
  switch (reason) {
    case "oversized":
      return { guard, result: run(new Uint8Array(MESSAGE_BYTES_MAX + 1)) };
    case "malformed":
      return { guard, result: run(Uint8Array.from([1, 200])) };
    case "wrong_recipient":
      return { guard, result: run(encodePacket(packet({ recipient: "carol" }))) };
    case "time_window":
      return {
        guard,
        result: run(encodePacket(packet({ createdMs: NOW - PACKET_TIME_SKEW_MS_MAX - 1 }))),
      };
    case "unknown_sender":
      return { guard, result: run(encodePacket(packet({ sender: "mallory" })), ctx()) };
    case "unsigned":
      return { guard, result: run(encodePacket(packet()), ctx({ from: "router-1" })) };
    case "bad_signature":
      return { guard, result: run(signed(packet(), malloryCrypto.sign), ctx({ from: "r" })) };
    case "replayed": {
      run(encodePacket(packet()));
      return { guard, result: run(encodePacket(packet())) };
    }
    case "bad_seal": {
      const sealed = sealPacket(packet(), seal.generateX25519KeyPair().publicKey, seal);
      return { guard, result: openPacket(guard, sealed, bobBox.privateKey, seal) };
    }
  }
}

Deno.test("every rejection reason is reached, returned as a value and counted", () => {
  for (const reason of PACKET_REJECT_REASONS) {
    const { guard, result } = rejectionCase(reason);
    assert.equal((result as { ok: boolean }).ok, false, reason);
    assert.equal((result as { reason: string }).reason, reason);
    assert.equal(guard.counters[reason], 1, reason);
  }
});

Deno.test("sealed payloads open only for the recipient and only in their envelope", () => {
  const guard = createPacketGuard("bob");
  const sealed = sealPacket(packet(), bobBox.publicKey, seal);
  assert.ok(sealed.sealed);
  const checked = checkPacket(guard, encodeSignedPacket(sealed, aliceCrypto.sign), ctx());
  assert.ok(checked.ok);
  const opened = openPacket(guard, checked.packet, bobBox.privateKey, seal);
  assert.ok(opened.ok);
  assert.deepEqual(opened.packet.payload, packet().payload);
  const moved = openPacket(guard, { ...sealed, packetId: "p2" }, bobBox.privateKey, seal);
  assert.equal(moved.ok, false);
  const wrongCommand = sealPacket(packet({ command: 9 }), bobBox.publicKey, seal);
  assert.equal(openPacket(guard, wrongCommand, bobBox.privateKey, seal).ok, false);
  assert.equal(guard.counters.bad_seal, 2);
});

Deno.test("the replay window accepts out-of-order packets and refuses old ones", () => {
  const guard = createPacketGuard("bob");
  const send = (seq: number) => checkPacket(guard, encodePacket(packet({ seq })), ctx()).ok;
  const base = initialSequence(NOW);
  assert.ok(send(base + 10));
  assert.ok(send(base + 5));
  assert.equal(send(base + 5), false);
  assert.ok(send(base + 11));
  assert.ok(send(base + 10 + REPLAY_WINDOW));
  assert.equal(send(base + 10), false, "fell out of the window");
  assert.ok(send(base + 12), "still inside the window");
  assert.equal(send(base + 11), false, "seen before the window moved");
  assert.ok(send(base + 5 * REPLAY_WINDOW));
  assert.equal(send(base + 4 * REPLAY_WINDOW), false, "exactly one window behind");
  assert.ok(send(base + 4 * REPLAY_WINDOW + 1), "the oldest slot inside the window");
});

Deno.test("a full replay table evicts the least active sender and keeps its replays out", () => {
  const guard = createPacketGuard("bob", 2);
  const known = (name: string) => (name.startsWith("s") ? alice.publicKey : undefined);
  const send = (sender: string, seq: number, createdMs: number) =>
    checkPacket(guard, encodePacket(packet({ sender, seq, createdMs })), {
      ...ctx({ from: sender, signingKeyOf: known }),
    }).ok;
  assert.ok(send("s1", 1, NOW - 10));
  assert.ok(send("s2", 1, NOW - 5));
  assert.ok(send("s3", 1, NOW));
  assert.equal(guard.windows.size, 2);
  assert.equal(guard.counters.evicted, 1);
  assert.equal(send("s1", 1, NOW - 10), false, "replay of the evicted sender");
  assert.ok(send("s1", 2, NOW + 1), "fresh packet of the evicted sender");
});

Deno.test("property: every mutation of a valid signed packet is refused", () => {
  const good = encodeSignedPacket(packet(), aliceCrypto.sign);
  const relayed = ctx({ from: "router-1" });
  check(
    fc.property(
      fc.integer({ min: 0, max: good.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      (at, flip) => {
        const bad = good.slice();
        bad[at] ^= flip;
        assert.equal(checkPacket(createPacketGuard("bob"), bad, relayed).ok, false);
      },
    ),
    400,
  );
  check(
    fc.property(fc.integer({ min: 0, max: good.length - 1 }), (cut) => {
      assert.equal(checkPacket(createPacketGuard("bob"), good.subarray(0, cut), relayed).ok, false);
    }),
    100,
  );
});

Deno.test("property: mutated plain packets are refused or decode to a different packet", () => {
  // A plain packet relies on its link for integrity: a flipped byte may still decode, but then it
  // is a different packet (another field value), never the original accepted twice.
  const good = encodePacket(packet());
  check(
    fc.property(
      fc.integer({ min: 0, max: good.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      (at, flip) => {
        const bad = good.slice();
        bad[at] ^= flip;
        const decoded = decodePacket(bad);
        if (decoded.ok) assert.notDeepEqual(decoded.packet, packet());
      },
    ),
    300,
  );
});

Deno.test("property: random bytes never throw from checkPacket()", () => {
  check(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, signedFormat) => {
      if (bytes.length > 0) bytes[0] = signedFormat ? 2 : 1;
      const result = checkPacket(createPacketGuard("bob"), bytes, ctx());
      assert.equal(typeof result.ok, "boolean");
    }),
    500,
  );
});

Deno.test("signed statements are bound to their domain, version and every field", () => {
  const Offer = struct({ who: string(16), n: uint });
  const value = { who: "s1", n: 5 };
  const sig = signStatement("BDOF", 1, Offer, value, aliceCrypto.sign);
  const ok = (d: string, v: number, val: typeof value, s = sig, key = alice.publicKey) =>
    verifyStatement(d, v, Offer, val, s, key, aliceCrypto);
  assert.ok(ok("BDOF", 1, value));
  assert.equal(ok("BDCT", 1, value), false, "another domain");
  assert.equal(ok("BDOF", 2, value), false, "another version");
  assert.equal(ok("BDOF", 1, { who: "s1", n: 6 }), false, "another value");
  assert.equal(ok("BDOF", 1, value, sig, mallory.publicKey), false, "another key");
  assert.throws(() => statementBytes("bad", 1, Offer, value), RangeError);
});
