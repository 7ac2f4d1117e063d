import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "./_assert_test_util.ts";
import { check } from "./_fc_test_util.ts";
import { newFileSalt, randomKey } from "./aead.ts";
import { AuthenticationError, IntegrityError, TooFewFragmentsError } from "./errors.ts";
import { sha256 } from "./merkle.ts";
import {
  corruptFragments,
  openBlock,
  rebuildFragments,
  rebuildVerified,
  sealBlock,
  sealBlockAsync,
  sealBytes,
  sealStream,
} from "./pipeline.ts";
import { formatScheme, mirrorScheme, rsScheme, type Scheme } from "./scheme.ts";

const fileKey = randomKey();
const fileSalt = newFileSalt();

const schemeArb: fc.Arbitrary<Scheme> = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 6 }))
    .map(([k, m]) => rsScheme(k, m)),
  fc.integer({ min: 1, max: 4 }).map((n) => mirrorScheme(n)),
);

/** Up to `m` positions of `n`, chosen by the stream of booleans. */
function erasures(n: number, m: number, coins: boolean[]): Set<number> {
  const lost = new Set<number>();
  for (let i = 0; i < n && lost.size < m; i++) if (coins[i % coins.length]) lost.add(i);
  return lost;
}

Deno.test("property: files of 0 bytes to several blocks round-trip under ≤ M erasures", () => {
  check(
    fc.property(
      schemeArb,
      fc.integer({ min: 64, max: 3000 }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 2999 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
      (scheme, blockBytes, fullBlocks, extra, coins) => {
        const size = fullBlocks * blockBytes + (extra % blockBytes);
        const file = new Uint8Array(size).map((_, i) => (i * 31 + size) & 0xff);
        const sealed = sealBytes(file, { fileKey, fileSalt, scheme, blockBytes });
        assertEquals(sealed.length, Math.ceil(size / blockBytes));
        const out = new Uint8Array(size);
        for (const block of sealed) {
          const lost = erasures(scheme.n, scheme.m, coins);
          const plain = openBlock({
            fileKey,
            fileSalt,
            blockIndex: block.blockIndex,
            scheme,
            cipherSize: block.cipherSize,
            fragmentHashes: block.fragmentHashes,
            fragments: block.fragments.map((f, i) => (lost.has(i) ? undefined : f)),
          });
          out.set(plain, block.blockIndex * blockBytes);
        }
        assertEquals(out, file);
      },
    ),
    120,
  );
});

Deno.test("every erasure pattern of at most M fragments opens rs:4+4 and rs:2+3 blocks", () => {
  for (const scheme of [rsScheme(4, 4), rsScheme(2, 3), mirrorScheme(3)]) {
    const plaintext = new Uint8Array(1001).map((_, i) => i);
    const sealed = sealBlock({ fileKey, fileSalt, blockIndex: 7, plaintext, scheme });
    for (let mask = 0; mask < 1 << scheme.n; mask++) {
      const fragments = sealed.fragments.map((f, i) => (mask & (1 << i) ? undefined : f));
      const lost = fragments.filter((f) => f === undefined).length;
      const open = () =>
        openBlock({ ...sealed, fileKey, fileSalt, blockIndex: 7, scheme, fragments });
      if (lost <= scheme.m) assertEquals(open(), plaintext, `${formatScheme(scheme)} ${mask}`);
      else assertThrows(open, TooFewFragmentsError, `${lost - scheme.m} missing`);
    }
  }
});

Deno.test("property: any single flipped bit in a fragment is detected, never decoded", () => {
  check(
    fc.property(
      schemeArb,
      fc.uint8Array({ maxLength: 2000 }),
      fc.nat(),
      fc.nat(),
      (scheme, plaintext, which, bit) => {
        const sealed = sealBlock({ fileKey, fileSalt, blockIndex: 1, plaintext, scheme });
        const p = which % scheme.n;
        const fragments = sealed.fragments.map((f) => f.slice());
        const b = bit % (fragments[p].length * 8);
        fragments[p][b >> 3] ^= 1 << (b & 7);
        const args = { fileKey, fileSalt, blockIndex: 1, scheme, ...sealed, fragments };
        assertEquals(corruptFragments(fragments, sealed.fragmentHashes, sealed.fragmentSize), [p]);
        // Opening hashes fragments in position order until K are good: a bad one among them
        // stops a strict open; one past them is never read, and the plaintext is still right.
        const strict = () => openBlock({ ...args, onHashMismatch: "throw" });
        if (p < scheme.k) assertThrows(strict, IntegrityError);
        else assertEquals(strict(), plaintext);
        // Skipping the bad fragment still gives the right plaintext when K good ones remain.
        if (scheme.n - 1 >= scheme.k) assertEquals(openBlock(args), plaintext);
        else assertThrows(() => openBlock(args), TooFewFragmentsError, "bad hash");
        // Forge the recorded hash too: now AES-GCM's tag must catch it.
        const hashes = sealed.fragmentHashes.slice();
        hashes[p] = sha256(fragments[p]);
        const forged = { ...args, fragmentHashes: hashes };
        // A parity fragment that is not used for decoding is harmless; a used one fails the tag.
        if (p < scheme.k) {
          const e = assertThrows(() => openBlock(forged));
          assert(e instanceof AuthenticationError || e instanceof IntegrityError, String(e));
        }
      },
    ),
    200,
  );
});

Deno.test("openBlock() refuses the wrong key, salt or block index", () => {
  const plaintext = new Uint8Array(100).fill(1);
  const sealed = sealBlock({ fileKey, fileSalt, blockIndex: 3, plaintext, scheme: "rs:3+2" });
  const base = { fileKey, fileSalt, blockIndex: 3, scheme: "rs:3+2", ...sealed };
  assertEquals(openBlock(base), plaintext);
  assertThrows(() => openBlock({ ...base, fileKey: randomKey() }), AuthenticationError);
  assertThrows(() => openBlock({ ...base, fileSalt: newFileSalt() }), AuthenticationError);
  assertThrows(() => openBlock({ ...base, blockIndex: 4 }), AuthenticationError);
  const blockKey = randomKey();
  const random = sealBlock({ blockKey, plaintext, scheme: "mirror:2" });
  assertEquals(openBlock({ blockKey, scheme: "mirror:2", ...random }), plaintext);
});

Deno.test("property: keyless rebuild gives back the lost fragments byte for byte", () => {
  check(
    fc.property(
      schemeArb,
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }),
      (scheme, plaintext, coins) => {
        const sealed = sealBlock({ fileKey, fileSalt, blockIndex: 0, plaintext, scheme });
        const lost = [...erasures(scheme.n, scheme.m, coins)];
        const fragments = sealed.fragments.map((f, i) => (lost.includes(i) ? undefined : f));
        const rebuilt = rebuildFragments({
          scheme,
          fragments,
          wanted: lost,
          cipherSize: sealed.cipherSize,
          fragmentHashes: sealed.fragmentHashes,
        });
        assertEquals(rebuilt, lost.map((i) => sealed.fragments[i]));
      },
    ),
    150,
  );
});

Deno.test("rebuildVerified() names the rebuilt fragments that fail their hash", () => {
  const plaintext = new Uint8Array(5000).map((_, i) => i * 7);
  const sealed = sealBlock({ fileKey, fileSalt, blockIndex: 0, plaintext, scheme: "rs:4+2" });
  const wanted = [4, 1];
  const wantedHashes = wanted.map((p) => sealed.fragmentHashes[p]);
  const holed = sealed.fragments.map((f, i) => (wanted.includes(i) ? undefined : f));
  const input = { scheme: "rs:4+2", wanted, cipherSize: sealed.cipherSize, wantedHashes };
  const good = rebuildVerified({ ...input, fragments: holed });
  assertEquals(good, { fragments: wanted.map((p) => sealed.fragments[p]), unmatched: [] });
  // An altered input that nobody checked first: both outputs come out wrong, and say so.
  const altered = holed.map((f, i) => (i === 0 ? f!.map((b) => b ^ 1) : f));
  assertEquals(rebuildVerified({ ...input, fragments: altered }).unmatched, [4, 1]);
  // A wrong hash in the index fails its position only.
  const forged = { ...input, wantedHashes: [wantedHashes[0], new Uint8Array(32)] };
  assertEquals(rebuildVerified({ ...forged, fragments: holed }).unmatched, [1]);
  // A wrong cipher size never gets that far: the inputs' sizes disagree with it.
  const wrongSize = { ...input, fragments: holed, cipherSize: sealed.cipherSize - 4 };
  assertThrows(() => rebuildVerified(wrongSize), IntegrityError);
  assertThrows(
    () => rebuildVerified({ ...input, fragments: holed, wantedHashes: [wantedHashes[0]] }),
    RangeError,
  );
});

Deno.test("sealStream() and sealBlockAsync() give the bytes of the synchronous path", async () => {
  const file = new Uint8Array(10_000).map((_, i) => i * 13);
  const options = { fileKey, fileSalt, scheme: "rs:3+2", blockBytes: 3000 };
  const sync = sealBytes(file, options);
  const chunks = [file.subarray(0, 1234), file.subarray(1234, 7000), file.subarray(7000)];
  const streamed = [];
  for await (const block of sealStream(chunks, options)) streamed.push(block);
  assertEquals(streamed, sync);
  const one = await sealBlockAsync({
    ...options,
    blockIndex: 0,
    plaintext: file.subarray(0, 3000),
  });
  assertEquals(one.fragments, sync[0].fragments);
  let empty = 0;
  for await (const _ of sealStream([], options)) empty++;
  assertEquals(empty, 0);
});

Deno.test("sealBlock() reports sizes and needs a key", () => {
  const sealed = sealBlock({
    fileKey,
    fileSalt,
    blockIndex: 0,
    plaintext: new Uint8Array(0),
    scheme: "rs:4+4",
  });
  assertEquals(sealed.plainSize, 0);
  assertEquals(sealed.cipherSize, 16);
  assertEquals(sealed.fragmentSize, 4);
  assertEquals(sealed.fragments.length, 8);
  assert(sealed.merkleRoots.every((r) => r.length === 32));
  assertThrows(() => sealBlock({ plaintext: new Uint8Array(1), scheme: "rs:1+1" }), TypeError);
});

Deno.test("openBytes() and openStream() restore files with derived and wrapped keys", async () => {
  const { fileEntryOf } = await import("./manifest.ts");
  const { newWrappedBlockKey, openBytes, openStream } = await import("./pipeline.ts");
  const file = new Uint8Array(5000).map((_, i) => i * 7);
  const scheme = "rs:2+1";
  const derived = sealBytes(file, { fileKey, fileSalt, scheme, blockBytes: 2048 });
  const entry = fileEntryOf({ path: "f", salt: fileSalt }, derived);
  const fragmentsOf = (i: number) => derived[i].fragments.map((f, p) => (p === 0 ? undefined : f));
  assertEquals(openBytes(entry, fileKey, scheme, fragmentsOf), file);
  const streamed = openStream(entry, fileKey, scheme, (i) => Promise.resolve(fragmentsOf(i)));
  assertEquals(new Uint8Array(await new Response(streamed).arrayBuffer()), file);
  // Random per-block keys, wrapped in the manifest.
  const wrapped = [0, 1, 2].map((i) => {
    const { blockKey, wrappedKey } = newWrappedBlockKey(fileKey);
    const plaintext = file.subarray(i * 2048, (i + 1) * 2048);
    return { ...sealBlock({ blockKey, plaintext, scheme }), wrappedKey };
  });
  const entry2 = fileEntryOf({ path: "g", salt: fileSalt }, wrapped);
  assertEquals(openBytes(entry2, fileKey, scheme, (i) => wrapped[i].fragments), file);
  assertThrows(() => openBytes(entry2, randomKey(), scheme, (i) => wrapped[i].fragments));
});

// Regression for FC_SEED=1241102978.
Deno.test("regression: a flipped padding bit with a forged hash is refused", () => {
  // rs:9+0 over an empty block: 16 bytes of tag in 2-byte shards, the last shard pure padding.
  const scheme = rsScheme(9, 0);
  const sealed = sealBlock({
    fileKey,
    fileSalt,
    blockIndex: 1,
    plaintext: new Uint8Array(0),
    scheme,
  });
  const fragments = sealed.fragments.map((f) => f.slice());
  fragments[8][0] ^= 1;
  const fragmentHashes = sealed.fragmentHashes.slice();
  fragmentHashes[8] = sha256(fragments[8]);
  const args = { ...sealed, fileKey, fileSalt, blockIndex: 1, scheme, fragments, fragmentHashes };
  assertThrows(() => openBlock(args), IntegrityError, "padding");
});
