/**
 * The data path: what happens to a user's bytes between their disk and their suppliers.
 *
 * A file is cut into blocks (4 MiB by default). Each block is encrypted with AES-256-GCM under a
 * key used for that block only, the ciphertext is erasure-coded into fragments by the ECC scheme
 * (`rs:K+M` or `mirror:N`), and every fragment gets a SHA-256 hash and a Merkle root. The version's
 * manifest (files, blocks, hashes, wrapped keys) is encrypted under the user's file key; a
 * key-free fragment index signed by the owner lets suppliers and rebuilders check fragments,
 * rebuilt ones included, and lets anyone holding a root audit a supplier.
 *
 * Everything here is synchronous (so the simulator runs the very code the real node runs) except
 * the WebCrypto variants and the streaming helpers, which give the same bytes.
 *
 * Errors a caller should expect from data: {@link AuthenticationError} (wrong key or altered
 * ciphertext), {@link IntegrityError} (a hash or signature does not match),
 * {@link TooFewFragmentsError} (fewer than K fragments; says how many are missing) and
 * {@link FormatError} (not a format or version this build reads). Bad arguments throw
 * `TypeError`/`RangeError`.
 *
 * @example Seal a block, lose half the fragments, get it back
 * ```ts
 * import { newFileSalt, openBlock, randomKey, sealBlock } from "./mod.ts";
 * const fileKey = randomKey();
 * const fileSalt = newFileSalt();
 * const plaintext = new TextEncoder().encode("my tax return");
 * const sealed = sealBlock({ fileKey, fileSalt, blockIndex: 0, plaintext, scheme: "rs:4+4" });
 * const fragments = sealed.fragments.map((f, i) => (i % 2 ? undefined : f));
 * const back = openBlock({ ...sealed, fileKey, fileSalt, blockIndex: 0, scheme: "rs:4+4",
 *   fragments });
 * console.assert(new TextDecoder().decode(back) === "my tax return");
 * ```
 *
 * @example Repair without the key, and check the result against the signed index
 * ```ts
 * import { newFileSalt, randomKey, rebuildFragments, sealBlock } from "./mod.ts";
 * const sealed = sealBlock({ fileKey: randomKey(), fileSalt: newFileSalt(), blockIndex: 0,
 *   plaintext: new Uint8Array(1000), scheme: "rs:4+2" });
 * const [lost] = rebuildFragments({ scheme: "rs:4+2", wanted: [5],
 *   fragments: sealed.fragments.map((f, i) => (i === 5 ? undefined : f)),
 *   cipherSize: sealed.cipherSize });
 * console.assert(lost.every((b, i) => b === sealed.fragments[5][i]));
 * ```
 *
 * @example Erasure-code raw bytes (parity identical to the reed-solomon-erasure crate's)
 * ```ts
 * import { decodeFragments, encodeFragments, parseScheme } from "./mod.ts";
 * const scheme = parseScheme("rs:10+20");
 * const bytes = new Uint8Array(100_000).fill(42);
 * const fragments = encodeFragments(scheme, bytes);
 * const any10 = fragments.map((f, i) => (i >= 20 ? f : undefined));
 * console.assert(decodeFragments(scheme, any10, bytes.length).every((b) => b === 42));
 * ```
 *
 * @module
 */

export {
  AuthenticationError,
  FormatError,
  IntegrityError,
  TooFewFragmentsError,
} from "./errors.ts";
export {
  formatScheme,
  FRAGMENTS_MAX,
  fragmentSize,
  mirrorScheme,
  parseScheme,
  rsScheme,
  type Scheme,
} from "./scheme.ts";
export {
  BLOCK_BYTES_DEFAULT,
  BLOCK_BYTES_MAX,
  blockCount,
  blocksToStream,
  type ByteSource,
  readBlocks,
  splitBlocks,
} from "./blocks.ts";
export {
  type AeadOptions,
  decrypt,
  decryptSync,
  deriveBlockKey,
  encrypt,
  encryptSync,
  FILE_SALT_BYTES,
  hkdf,
  KEY_BYTES,
  newFileSalt,
  NONCE_BYTES,
  randomKey,
  TAG_BYTES,
} from "./aead.ts";
export {
  generateX25519KeyPair,
  openSealed,
  SEAL_OVERHEAD_BYTES,
  type SealOptions,
  sealTo,
  unwrapKey,
  WRAP_OVERHEAD_BYTES,
  wrapKey,
  type WrapOptions,
  type X25519KeyPair,
  x25519PublicKey,
} from "./seal.ts";
export { decodeFragments, encodeFragments, reconstructFragments } from "./fragments.ts";
export { ReedSolomon, reedSolomon } from "./erasure/rs.ts";
export { defaultKernel, type Kernel } from "./erasure/kernel.ts";
export {
  HASH_BYTES,
  hashFragment,
  LEAF_BYTES_DEFAULT,
  leafCount,
  merkleLeaf,
  type MerkleProof,
  merkleProof,
  merkleRoot,
  sha256,
  verifyMerkleProof,
} from "./merkle.ts";
export {
  type BlockKeyInput,
  blockWrappingKey,
  corruptFragments,
  type FragmentSource,
  newWrappedBlockKey,
  openBlock,
  type OpenBlockInput,
  openBytes,
  openStream,
  rebuildFragments,
  type RebuildInput,
  sealBlock,
  sealBlockAsync,
  type SealBlockInput,
  sealBytes,
  type SealedBlock,
  type SealedFileBlock,
  type SealFileOptions,
  sealStream,
} from "./pipeline.ts";
export {
  type BlockEntry,
  blockOrdinals,
  decodeManifest,
  encodeManifest,
  type FileEntry,
  fileEntryOf,
  type FileFacts,
  type Manifest,
  newVersionId,
  openManifest,
  sealManifest,
} from "./manifest.ts";
export {
  type FragmentIndex,
  fragmentIndexOf,
  type IndexedBlock,
  type IndexedFragment,
  indexedFragmentSize,
  openFragmentIndex,
  type Sign,
  signFragmentIndex,
  type Verify,
  verifyAudit,
  verifyFragment,
} from "./fragment_index.ts";
