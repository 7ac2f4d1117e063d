/**
 * The customer's own records on its local disk, so a daemon that stops or crashes comes back
 * with its family and its catalogue.
 *
 * Blobs (all under `meta/`):
 * - `meta/family`: who holds each position under which pinned key (and how many audits it left
 *   unanswered in a row), the suppliers not to hire again, and the highest writer-lease epoch
 *   seen (so that every claim after a restart goes above the epochs this home wrote at, which
 *   suppliers fence by, even when the ID servers have forgotten the lease);
 * - `meta/cancels`: fired suppliers not yet known to have dropped our contract, with their keys;
 * - `meta/v/<versionId>`: one version: files, blocks, fragment hashes and roots, which positions
 *   hold each fragment, and the positions' generations it was written under.
 *
 * Each starts with a 4-byte magic and a format version byte, then the canonical codec encoding.
 * The family record is at version 4 (each position's generation added: a fire bumps it, see
 * `catalogue.ts`; version 3 added the epoch, version 2 loads with epoch 0, older ones with
 * every generation 1), the version record at version 2 (generations added; a fragment counts
 * only while its position's generation is still the one it was recorded under, so a fire need
 * not rewrite every version), the cancels record at version 2 (keys added); version 1 records
 * still load, their suppliers unpinned until a probe answer pins them (see `auth.ts`).
 * A version is written when its backup starts (as `uploading`), when it completes (the user is
 * told only after that write is done), and after repairs change where its fragments are
 * (batched: at most once per `persistIntervalMs`). At load an `uploading` version becomes
 * `incomplete`: the backup was interrupted; the user may delete it or back up again.
 *
 * @module
 */

import type { NodeId } from "../../core/actor.ts";
import {
  array,
  bytes,
  decode,
  DecodeError,
  encode,
  fixedBytes,
  int,
  oneOf,
  optional,
  string,
  struct,
  uint,
} from "../../core/codec.ts";
import { NODE_ID_BYTES_MAX, PUBLIC_KEY_BYTES } from "../../core/limits.ts";
import type { BlockRec, CustomerState, FileRec, VersionRec } from "./state.ts";

/** Prefix of every customer record. */
export const META_PREFIX = "meta/";
/** Key of the family record. */
export const FAMILY_KEY = "meta/family";
/** Key of the record of fired suppliers still to be told to drop our contract. */
export const CANCELS_KEY = "meta/cancels";
/** Key of a version's record. */
export function versionKey(versionId: string): string {
  return `meta/v/${versionId}`;
}

const FAMILY_MAGIC = [0x42, 0x44, 0x43, 0x46]; // "BDCF"
const VERSION_MAGIC = [0x42, 0x44, 0x43, 0x56]; // "BDCV"
const CANCELS_MAGIC = [0x42, 0x44, 0x43, 0x58]; // "BDCX"
/** Format version of the family and cancels records written now (1: before keys). */
const KEYED = 2;
/** Format version of the family record with the writer epoch. */
const EPOCHED = 3;
/**
 * Format version of the family record written now (with each position's generation) and of the
 * version record written now (2: with the generations it was written under).
 */
const FAMILY_GENERATIONS = 4;
const VERSION_GENERATIONS = 2;
/** The generation of every position of a record from before generations (never fired since). */
const FIRST_GENERATION = 1;
const name = string(NODE_ID_BYTES_MAX);
const hash = fixedBytes(32);
const key = optional(fixedBytes(PUBLIC_KEY_BYTES));

const familyCodecV1 = struct({
  positions: array(optional(name), 256),
  excluded: array(name, 4096),
});

const familyFieldsV2 = {
  positions: array(optional(struct({ supplier: name, key, auditMisses: uint })), 256),
  excluded: array(name, 4096),
};
const familyCodecV2 = struct(familyFieldsV2);
const familyCodecV3 = struct({ ...familyFieldsV2, epoch: uint });
const generations = array(uint, 256);
const familyCodec = struct({ ...familyFieldsV2, epoch: uint, generations });

const blockCodec = struct({
  key: string(128),
  plainSize: uint,
  cipherSize: uint,
  fragmentSize: uint,
  hashes: array(hash, 256),
  roots: array(hash, 256),
  held: bytes(256),
});

const versionFields = {
  id: string(64),
  label: string(1024),
  createdMs: uint,
  status: oneOf(["uploading", "complete", "incomplete"] as const),
  files: array(
    struct({
      path: string(4096),
      size: uint,
      mode: uint,
      mtimeMs: int,
      salt: fixedBytes(32),
      blocks: array(blockCodec, 1 << 24),
    }),
    1_000_000,
  ),
  manifest: optional(blockCodec),
};
const versionCodecV1 = struct(versionFields);
const versionCodec = struct({ ...versionFields, generations });

function framed(magic: number[], body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(magic.length + body.length);
  out.set(magic);
  out.set(body, magic.length);
  return out;
}

function unframe(magic: number[], data: Uint8Array): Uint8Array {
  if (data.length < magic.length || magic.some((b, i) => data[i] !== b)) {
    throw new DecodeError("not a customer record of a format this version reads");
  }
  return data.subarray(magic.length);
}

/** The body and format version of a record whose 4-byte magic is followed by 1 to `newest`. */
function unframeVersioned(
  magic: number[],
  data: Uint8Array,
  newest = KEYED,
): [Uint8Array, number] {
  const version = data[magic.length];
  if (!(version >= 1 && version <= newest)) return [unframe([...magic, newest], data), newest];
  return [unframe([...magic, version], data), version];
}

/** The family record of `s`. */
export function encodeFamily(s: CustomerState): Uint8Array<ArrayBuffer> {
  return framed(
    [...FAMILY_MAGIC, FAMILY_GENERATIONS],
    encode(familyCodec, {
      positions: s.family.positions.map((p) =>
        p.state === "active"
          ? { supplier: p.supplier!, key: p.key ?? undefined, auditMisses: p.auditMisses }
          : undefined
      ),
      excluded: s.family.excluded,
      epoch: s.lease?.epoch ?? 0,
      generations: s.family.positions.map((p) => p.generation),
    }),
  );
}

const cancelsCodecV1 = array(struct({ supplier: name, firedMs: uint }), 4096);
const cancelsCodec = array(struct({ supplier: name, firedMs: uint, key }), 4096);

/** The record of fired suppliers still to be told. */
export function encodeCancels(s: CustomerState): Uint8Array<ArrayBuffer> {
  const list = [...s.family.cancels].map(([supplier, c]) => ({
    supplier,
    firedMs: Math.max(0, Math.floor(c.firedMs)),
    key: c.key ?? undefined,
  }));
  return framed([...CANCELS_MAGIC, KEYED], encode(cancelsCodec, list));
}

/** A fired supplier as its record keeps it (no key in a record of format 1). */
export interface CancelRecord {
  supplier: NodeId;
  firedMs: number;
  key: Uint8Array | undefined;
}

/** Decodes the record of fired suppliers still to be told. */
export function decodeCancels(data: Uint8Array): CancelRecord[] {
  const [body, version] = unframeVersioned(CANCELS_MAGIC, data);
  if (version === 1) {
    return decode(cancelsCodecV1, body).map((c) => ({ ...c, key: undefined }));
  }
  return decode(cancelsCodec, body).map((c) => ({ ...c, key: c.key?.slice() }));
}

/** A decoded family record: per position its supplier and pinned key (none in format 1). */
export interface FamilyRecord {
  positions: (NodeId | undefined)[];
  keys: (Uint8Array | undefined)[];
  /** Per position, audits left unanswered in a row (0 in format 1). */
  auditMisses: number[];
  excluded: NodeId[];
  /** The highest writer-lease epoch seen when it was written (0 before format 3). */
  epoch: number;
  /** Per position, its generation (see `Position.generation`; all 1 before format 4). */
  generations: number[];
  /** Format version it was read from. */
  version: number;
}

/** Decodes a family record of either format. */
export function decodeFamily(data: Uint8Array): FamilyRecord {
  const [body, version] = unframeVersioned(FAMILY_MAGIC, data, FAMILY_GENERATIONS);
  if (version === 1) {
    const r = decode(familyCodecV1, body);
    return {
      positions: r.positions,
      keys: r.positions.map(() => undefined),
      auditMisses: r.positions.map(() => 0),
      excluded: r.excluded,
      epoch: 0,
      generations: r.positions.map(() => FIRST_GENERATION),
      version,
    };
  }
  const first = (r: { positions: unknown[] }) => r.positions.map(() => FIRST_GENERATION);
  const r = version === KEYED
    ? { ...decode(familyCodecV2, body), epoch: 0, generations: undefined }
    : version === EPOCHED
    ? { ...decode(familyCodecV3, body), generations: undefined }
    : decode(familyCodec, body);
  if (r.generations !== undefined && r.generations.length !== r.positions.length) {
    throw new DecodeError("a family record's generations do not match its positions");
  }
  return {
    positions: r.positions.map((p) => p?.supplier),
    keys: r.positions.map((p) => p?.key?.slice()),
    auditMisses: r.positions.map((p) => p?.auditMisses ?? 0),
    excluded: r.excluded,
    epoch: r.epoch,
    generations: r.generations ?? first(r),
    version,
  };
}

function blockOut(b: BlockRec, gens: readonly number[]) {
  const held = new Uint8Array(b.heldAt.length);
  for (let p = 0; p < held.length; p++) {
    held[p] = b.heldAt[p] !== 0 && b.heldAt[p] === gens[p] ? 1 : 0;
  }
  return {
    key: b.key,
    plainSize: b.plainSize,
    cipherSize: b.cipherSize,
    fragmentSize: b.fragmentSize,
    hashes: b.hashes,
    roots: b.roots,
    held,
  };
}

/** Whether a block has been sealed (its hashes are known). */
function sealed(b: BlockRec): boolean {
  return b.cipherSize > 0 && b.hashes.length === b.heldAt.length;
}

/**
 * The record of version `v` (of an upload in progress, only the blocks sealed so far), with the
 * positions' generations now: a fragment is recorded as held only if credited under them.
 */
export function encodeVersion(v: VersionRec, gens: readonly number[]): Uint8Array<ArrayBuffer> {
  const out = (b: BlockRec) => blockOut(b, gens);
  const manifest = v.manifest !== null && sealed(v.manifest) ? out(v.manifest) : undefined;
  return framed(
    [...VERSION_MAGIC, VERSION_GENERATIONS],
    encode(versionCodec, {
      id: v.id,
      label: v.label,
      createdMs: Math.max(0, Math.floor(v.createdMs)),
      status: v.status,
      files: v.files.map((f) => ({
        path: f.path,
        size: f.size,
        mode: f.mode,
        mtimeMs: f.mtimeMs,
        salt: f.salt,
        blocks: f.blocks.filter(sealed).map(out),
      })),
      manifest,
      generations: [...gens],
    }),
  );
}

type BlockIn = Omit<ReturnType<typeof blockOut>, "held"> & { held: Uint8Array };

function blockIn(b: BlockIn, n: number, gens: readonly number[]): BlockRec {
  const heldAt = new Uint32Array(n);
  for (let p = 0; p < Math.min(n, b.held.length); p++) if (b.held[p] === 1) heldAt[p] = gens[p];
  return {
    key: b.key,
    plainSize: b.plainSize,
    cipherSize: b.cipherSize,
    fragmentSize: b.fragmentSize,
    hashes: b.hashes.map((h) => h.slice()),
    roots: b.roots.map((h) => h.slice()),
    heldAt,
    storing: new Uint8Array(n),
    pending: null,
    repairing: false,
  };
}

/**
 * Decodes a version record for a family of `n` positions; an interrupted upload is marked. Its
 * fragments are credited under the generations it was written under (all 1 in format 1): a
 * position fired since then (a higher generation in the family record) is not credited.
 */
export function decodeVersion(data: Uint8Array, n: number): VersionRec {
  const [body, format] = unframeVersioned(VERSION_MAGIC, data, VERSION_GENERATIONS);
  const r = format === 1
    ? { ...decode(versionCodecV1, body), generations: new Array(n).fill(FIRST_GENERATION) }
    : decode(versionCodec, body);
  if (r.generations.length !== n) {
    throw new DecodeError(`a version record of ${r.generations.length} positions, not ${n}`);
  }
  const gens: number[] = r.generations;
  const files: FileRec[] = r.files.map((f) => ({
    path: f.path,
    size: f.size,
    mode: f.mode,
    mtimeMs: f.mtimeMs,
    salt: f.salt.slice(),
    blocks: f.blocks.map((b) => blockIn(b, n, gens)),
  }));
  for (const f of files) {
    for (const b of f.blocks) {
      if (b.hashes.length !== n || b.roots.length !== n) {
        throw new DecodeError(`block ${b.key} has ${b.hashes.length} hashes for ${n} positions`);
      }
    }
  }
  return {
    id: r.id,
    label: r.label,
    createdMs: r.createdMs,
    status: r.status === "uploading" ? "incomplete" : r.status,
    files,
    manifest: r.manifest === undefined ? null : blockIn(r.manifest, n, gens),
  };
}
