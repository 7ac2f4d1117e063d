/**
 * `bitdust supplier` as an operator sees it: the status line it prints when it stops, with its
 * refusals (a real process on 127.0.0.1 with a real ID server).
 */

import assert from "node:assert/strict";
import { Proc, SOURCES } from "../../tests/_procs.ts";
import type { SupplierStatus } from "../../actors/supplier/mod.ts";
import { statusLine } from "./supplier.ts";

Deno.test("supplier status line: tables, then every kind of refusal, by number", () => {
  const s: SupplierStatus = {
    type: "status",
    phase: "ready",
    customers: 3,
    fragments: 40,
    capacityBytes: 1000,
    grantedBytes: 1500,
    chargedBytes: 700,
    usedBytes: 600,
    freeBytes: 300,
    published: 1,
    keyRefusals: 17,
    contractsLapsed: 2,
    contractsExpired: 5,
    writesSuperseded: 3,
  };
  assert.equal(
    statusLine(s),
    "3 contracts, 40 fragments, 600 bytes stored, 700 of 1000 bytes taken, 300 offered; " +
      "refused 17 messages under a key not pinned for their name; " +
      "2 contracts lapsed, 5 expired; 3 writes refused as superseded",
  );
});

Deno.test("bitdust supplier prints its status and refusals when it stops", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bitdust-supplier-" });
  const ids = new Proc("idserver", SOURCES, ["idserver", "--port", "0", "--data", `${dir}/ids`]);
  try {
    const url = (await ids.waitFor(/^listening (http:\/\/127\.0\.0\.1:\d+)$/))[1];
    const args = ["supplier", "--data", `${dir}/sup`, "--donate", "1MiB", "--idserver", url];
    const supplier = new Proc("supplier", SOURCES, [...args, "--name", "sup1"]);
    await supplier.waitFor(/^listening tcp:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await supplier.stop("SIGTERM"), 0);
    const line = supplier.errors.find((l) => l.includes("stopping:"));
    assert.ok(line !== undefined, `no status line; stderr:\n${supplier.errors.join("\n")}`);
    assert.match(line, /0 contracts, 0 fragments, .* of 1048576 bytes taken, 1048576 offered/);
    assert.match(line, /refused 0 messages under a key not pinned for their name/);
    assert.match(line, /0 contracts lapsed, 0 expired; 0 writes refused as superseded$/);
  } finally {
    await ids.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
