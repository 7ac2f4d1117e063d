/**
 * The customer's family record always fits an ID server's limit once sealed, whatever the family
 * size, name lengths and number of versions (the newest versions are kept), with every
 * position's pinned key.
 */

import { customerState } from "../actors/customer/mod.ts";
import { recoveryRecordOf } from "../actors/customer/publisher.ts";
import type { VersionRec } from "../actors/customer/state.ts";
import { NODE_ID_BYTES_MAX, RECOVERY_VERSIONS_MAX } from "../core/limits.ts";
import { eccScheme } from "../core/storage.ts";
import { openRecovery, sealRecovery } from "../data/recovery.ts";

function customerWith(scheme: string, nameBytes: number, versions: number) {
  const s = customerState({
    name: "alice",
    idServers: ["ids"],
    scheme: eccScheme(scheme)!,
    fileKey: new Uint8Array(32).fill(9),
  });
  s.family.positions.forEach((p, i) => {
    p.state = "active";
    p.supplier = `${i}-`.padEnd(nameBytes, "x");
    p.key = new Uint8Array(32).fill(i % 251);
  });
  for (let i = 0; i < versions; i++) {
    const v: VersionRec = {
      id: i.toString(16).padStart(32, "0"),
      label: "",
      createdMs: i,
      status: "complete",
      files: [],
      manifest: {
        key: `${i}/m/0`,
        plainSize: 0,
        cipherSize: 1000 + i,
        fragmentSize: 0,
        hashes: [],
        roots: [],
        heldAt: new Uint32Array(0),
        storing: new Uint8Array(0),
        pending: null,
        repairing: false,
      },
    };
    s.catalogue.versions.push(v);
  }
  return s;
}

Deno.test("family record: a small family keeps every version, newest first", () => {
  const s = customerWith("rs:4+4", 12, 30);
  const record = recoveryRecordOf(s);
  if (record.versions.length !== 30) throw new Error(`${record.versions.length} versions`);
  if (record.versions[0].manifestCipherSize !== 1029) throw new Error("not newest first");
  if (!record.allVersions) throw new Error("a complete record says it is cut");
  const opened = openRecovery(sealRecovery(record, s.fileKey, new Uint8Array(32)), s.fileKey);
  if (opened.positions[3] !== s.family.positions[3].supplier) throw new Error("positions differ");
  if (opened.keys?.[3]?.[0] !== 3) throw new Error("the pinned key did not travel");
});

Deno.test("family record: the largest family with long names and many versions still fits", () => {
  // Versions listed at least, with the longest names and a key at every position.
  const atLeast: [string, number][] = [
    ["rs:4+4", RECOVERY_VERSIONS_MAX],
    ["rs:29+51", RECOVERY_VERSIONS_MAX],
    ["mirror:256", 100],
  ];
  for (const [scheme, least] of atLeast) {
    const s = customerWith(scheme, NODE_ID_BYTES_MAX, 2000);
    const record = recoveryRecordOf(s);
    const sealed = sealRecovery(record, s.fileKey, new Uint8Array(32)); // throws if over the limit
    if (record.allVersions) throw new Error(`${scheme}: 2000 versions cannot all fit`);
    if (record.versions.length < least) {
      throw new Error(`${scheme}: ${record.versions.length} versions fit, not ${least}`);
    }
    const opened = openRecovery(sealed, s.fileKey);
    if (opened.keys?.filter((k) => k?.length === 32).length !== s.scheme.n) {
      throw new Error(`${scheme}: keys lost`);
    }
  }
});
