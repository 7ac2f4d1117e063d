/**
 * The customer's family record always fits an ID server's limit once sealed, whatever the family
 * size, name lengths and number of versions (the newest versions are kept).
 */

import { customerState } from "../actors/customer/mod.ts";
import { recoveryRecordOf } from "../actors/customer/recover.ts";
import type { VersionRec } from "../actors/customer/state.ts";
import { eccScheme } from "../core/storage.ts";
import { openRecovery, sealRecovery } from "../data/recovery.ts";

function customerWith(scheme: string, nameBytes: number, versions: number) {
  const s = customerState({
    name: "alice",
    idServers: ["ids"],
    scheme: eccScheme(scheme)!,
    fileKey: new Uint8Array(32).fill(9),
  });
  s.positions.forEach((p, i) => {
    p.state = "active";
    p.supplier = `${i}-`.padEnd(nameBytes, "x");
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
        held: new Uint8Array(0),
        storing: new Uint8Array(0),
        pending: null,
        repairing: false,
      },
    };
    s.versions.push(v);
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
  if (opened.positions[3] !== s.positions[3].supplier) throw new Error("positions differ");
});

Deno.test("family record: the largest family with long names and many versions still fits", () => {
  for (const [scheme, nameBytes] of [["rs:29+51", 255], ["mirror:256", 200], ["rs:4+4", 255]]) {
    const s = customerWith(scheme as string, nameBytes as number, 2000);
    const record = recoveryRecordOf(s);
    sealRecovery(record, s.fileKey, new Uint8Array(32)); // throws if over the limit
    if (record.allVersions) throw new Error(`${scheme}: 2000 versions cannot all fit`);
    if (record.versions.length === 0 && scheme !== "mirror:256") {
      throw new Error(`${scheme}: no version fits`);
    }
  }
});
