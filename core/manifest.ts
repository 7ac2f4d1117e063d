/**
 * The shape of a version's manifest, shared by the customer actor (which fills it in) and the
 * data path (which encodes, seals and opens it: `data/manifest.ts`).
 *
 * @module
 */

/** One block of a file: sizes, optional wrapped key, and its fragments' hashes. */
export interface BlockEntry {
  /** Plaintext bytes of the block. */
  plainSize: number;
  /** Ciphertext bytes (plaintext + 16). */
  cipherSize: number;
  /** The block's random key, wrapped under `blockWrappingKey(fileKey)`; absent if derived. */
  wrappedKey: Uint8Array | undefined;
  /** SHA-256 of each fragment, by position. */
  fragmentHashes: Uint8Array[];
  /** Merkle root of each fragment, by position. */
  merkleRoots: Uint8Array[];
}

/** One file of a version. */
export interface FileEntry {
  /** Path relative to the backed-up root, `/`-separated. */
  path: string;
  /** Bytes. */
  size: number;
  /** POSIX mode bits. */
  mode: number;
  /** Modification time, ms since the epoch (may be negative). */
  mtimeMs: number;
  /** The random salt of this file in this version. */
  salt: Uint8Array;
  /** Its blocks, in order. */
  blocks: BlockEntry[];
}

/** A version's manifest. */
export interface Manifest {
  /** Random id of the version (16 bytes). */
  versionId: Uint8Array;
  /** When the version was made, ms since the epoch. */
  createdMs: number;
  /** Free text from the user (may be empty). */
  label: string;
  /** ECC scheme of every block, canonical text. */
  scheme: string;
  /** Block size the files were cut with. */
  blockBytes: number;
  /** Merkle leaf size of the fragments. */
  leafBytes: number;
  /** The files. */
  files: FileEntry[];
}
