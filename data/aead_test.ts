import fc from "fast-check";
import { assertEquals, assertRejects, assertThrows } from "./_assert_test_util.ts";
import {
  decrypt,
  decryptSync,
  deriveBlockKey,
  encrypt,
  encryptSync,
  newFileSalt,
  randomKey,
  randomNonce,
  TAG_BYTES,
} from "./aead.ts";
import { AuthenticationError } from "./errors.ts";
import { check } from "./_fc_test_util.ts";

Deno.test("property: sync and WebCrypto AES-GCM agree and open each other", async () => {
  const cases = fc.sample(
    fc.record({ msg: fc.uint8Array({ maxLength: 5000 }), ad: fc.option(fc.uint8Array()) }),
    { numRuns: 40 },
  );
  for (const { msg, ad } of cases) {
    const key = randomKey();
    const nonce = randomNonce();
    const opts = { nonce, associatedData: ad ?? undefined };
    const a = encryptSync(key, msg, opts);
    const b = await encrypt(key, msg, opts);
    assertEquals(a, b);
    assertEquals(a.length, msg.length + TAG_BYTES);
    assertEquals(decryptSync(key, b, opts), msg);
    assertEquals(await decrypt(key, a, opts), msg);
  }
});

Deno.test("decrypt() refuses a wrong key, short input and altered data", async () => {
  const key = randomKey();
  const sealed = encryptSync(key, new Uint8Array(100));
  assertThrows(() => decryptSync(randomKey(), sealed), AuthenticationError);
  await assertRejects(() => decrypt(randomKey(), sealed), AuthenticationError);
  assertThrows(() => decryptSync(key, sealed.subarray(0, 10)), AuthenticationError);
  assertThrows(() => decryptSync(key, sealed, { associatedData: new Uint8Array(1) }));
});

Deno.test("property: any single flipped bit of ciphertext or tag is detected", () => {
  const key = randomKey();
  check(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (msg, at) => {
      const sealed = encryptSync(key, msg);
      const bit = at % (sealed.length * 8);
      sealed[bit >> 3] ^= 1 << (bit & 7);
      assertThrows(() => decryptSync(key, sealed), AuthenticationError);
    }),
    300,
  );
});

Deno.test("deriveBlockKey() differs per block index and per salt, and is stable", () => {
  const fileKey = randomKey();
  const salt = newFileSalt();
  const k0 = deriveBlockKey(fileKey, salt, 0);
  assertEquals(deriveBlockKey(fileKey, salt, 0), k0);
  const seen = new Set<string>();
  for (const i of [0, 1, 2, 255, 256, 2 ** 32, 2 ** 53 - 1]) {
    seen.add(deriveBlockKey(fileKey, salt, i).join(","));
  }
  seen.add(deriveBlockKey(fileKey, newFileSalt(), 0).join(","));
  assertEquals(seen.size, 8);
  assertThrows(() => deriveBlockKey(fileKey, salt, -1), RangeError);
});
