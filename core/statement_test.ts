import assert from "node:assert/strict";
import { generateSigningKeyPair, stepCryptoFor } from "../data/signing.ts";
import { string, struct, uint } from "./codec.ts";
import { signStatement, statementBytes, verifyStatement } from "./statement.ts";

const alice = generateSigningKeyPair();
const mallory = generateSigningKeyPair();
const aliceCrypto = stepCryptoFor(alice.privateKey);

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
