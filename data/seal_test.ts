import fc from "fast-check";
import { assertEquals, assertThrows } from "./_assert_test_util.ts";
import { randomKey } from "./aead.ts";
import { AuthenticationError, FormatError } from "./errors.ts";
import {
  generateX25519KeyPair,
  openSealed,
  SEAL_OVERHEAD_BYTES,
  sealTo,
  unwrapKey,
  WRAP_OVERHEAD_BYTES,
  wrapKey,
  x25519PublicKey,
} from "./seal.ts";
import { check } from "./_fc_test_util.ts";

const text = new TextEncoder();

Deno.test("sealTo() round-trips and has the documented overhead", () => {
  const bob = generateX25519KeyPair();
  assertEquals(x25519PublicKey(bob.privateKey), bob.publicKey);
  const msg = text.encode("the file key of a shared folder");
  const box = sealTo(bob.publicKey, msg);
  assertEquals(box.length, msg.length + SEAL_OVERHEAD_BYTES);
  assertEquals(openSealed(bob.privateKey, box), msg);
});

Deno.test("openSealed() refuses the wrong private key and other associated data", () => {
  const bob = generateX25519KeyPair();
  const eve = generateX25519KeyPair();
  const box = sealTo(bob.publicKey, text.encode("secret"), { associatedData: text.encode("a") });
  assertThrows(
    () => openSealed(eve.privateKey, box, { associatedData: text.encode("a") }),
    AuthenticationError,
  );
  assertThrows(() => openSealed(bob.privateKey, box), AuthenticationError);
  assertThrows(() => openSealed(bob.privateKey, box.subarray(0, 20)), FormatError);
});

Deno.test("sealTo() is reproducible from a seeded random source", () => {
  const bob = generateX25519KeyPair();
  const rb = (n: number) => new Uint8Array(n).fill(7);
  const a = sealTo(bob.publicKey, text.encode("x"), { randomBytes: rb });
  const b = sealTo(bob.publicKey, text.encode("x"), { randomBytes: rb });
  assertEquals(a, b);
});

Deno.test("sealTo() refuses a low-order public key", () => {
  assertThrows(() => sealTo(new Uint8Array(32), text.encode("x")), AuthenticationError);
});

Deno.test("property: any flipped bit of a sealed box is detected", () => {
  const bob = generateX25519KeyPair();
  check(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (msg, at) => {
      const box = sealTo(bob.publicKey, msg);
      const bit = at % (box.length * 8);
      box[bit >> 3] ^= 1 << (bit & 7);
      assertThrows(() => openSealed(bob.privateKey, box));
    }),
    60,
  );
});

Deno.test("property: wrapKey() round-trips and detects any flipped bit", () => {
  const kek = randomKey();
  check(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), (key, at) => {
      const wrapped = wrapKey(kek, key);
      assertEquals(wrapped.length, key.length + WRAP_OVERHEAD_BYTES);
      assertEquals(unwrapKey(kek, wrapped), key);
      const bit = at % (wrapped.length * 8);
      wrapped[bit >> 3] ^= 1 << (bit & 7);
      assertThrows(() => unwrapKey(kek, wrapped));
    }),
    200,
  );
  assertThrows(() => unwrapKey(randomKey(), wrapKey(kek, kek)), AuthenticationError);
});

Deno.test("sealTo() works with raw keys exported from WebCrypto X25519", async () => {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const priv = pkcs8.subarray(pkcs8.length - 32);
  assertEquals(x25519PublicKey(priv), pub);
  const box = sealTo(pub, text.encode("hello"));
  assertEquals(openSealed(priv, box), text.encode("hello"));
});
