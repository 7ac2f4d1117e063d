import type { VersionSummary } from "../actors/customer/mod.ts";
import { apiApp, ApiError, type DaemonControl } from "./api.ts";
import { pickVersion, restorePlan, safeJoin, walk, writeError } from "./user_daemon.ts";

function version(id: string, createdMs: number, paths: string[], complete = true): VersionSummary {
  return {
    versionId: id,
    label: "/home/alice/docs",
    createdMs,
    complete,
    status: complete ? "complete" : "incomplete",
    files: paths.map((path) => ({ path, size: 1, mode: 0o644, mtimeMs: 0 })),
  };
}

Deno.test("restorePlan: by id, by unique prefix, by path (newest copy); refusals", () => {
  const vs = [
    version("aaaa1111", 1, ["a.txt", "dir/b.txt"]),
    version("aaaa2222", 2, ["a.txt"]),
    version("bbbb0000", 3, ["c.txt"], false),
  ];
  if (restorePlan(vs, "aaaa1111")!.files.join() !== "0,1") throw new Error("by id");
  if (pickVersion(vs, "aaaa2")!.versionId !== "aaaa2222") throw new Error("by prefix");
  const byPath = restorePlan(vs, "a.txt")!;
  if (byPath.version.versionId !== "aaaa2222" || byPath.files.join() !== "0") {
    throw new Error("by path: the newest copy");
  }
  if (restorePlan(vs, "/home/alice/docs/dir/b.txt")!.version.versionId !== "aaaa1111") {
    throw new Error("by absolute path");
  }
  if (restorePlan(vs, "nothing") !== undefined) throw new Error("unknown accepted");
  for (const [target, code] of [["aaaa", "ambiguous"], ["bbbb0000", "incomplete"]]) {
    try {
      restorePlan(vs, target);
      throw new Error(`${target} accepted`);
    } catch (e) {
      if (!(e instanceof ApiError) || e.code !== code) throw e;
    }
  }
  // A short hex prefix shared by several versions names them rather than "no version".
  try {
    pickVersion(vs, "aa");
    throw new Error("a shared short prefix accepted");
  } catch (e) {
    if (
      !(e instanceof ApiError) || e.message !== "ambiguous: aa matches aaaa1111..., " +
          "aaaa2222...; give more characters"
    ) throw e;
  }
});

Deno.test("safeJoin refuses paths that leave the destination", () => {
  if (safeJoin("/d", "a/b.txt") !== "/d/a/b.txt") throw new Error("plain path");
  for (const bad of ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", ""]) {
    let threw = false;
    try {
      safeJoin("/d", bad);
    } catch {
      threw = true;
    }
    if (!threw) throw new Error(`${bad} accepted`);
  }
});

Deno.test("writeError says when the disk is full", () => {
  const full = writeError(new Error("No space left on device (os error 28)"), "/x");
  if (!full.includes("is full")) throw new Error(full);
  const other = writeError(new Error("Permission denied"), "/x");
  if (!other.includes("cannot write into /x")) throw new Error(other);
});

Deno.test("walk lists regular files, skips symlinks with a warning, keeps modes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/sub/x.txt`, "xyz");
    await Deno.chmod(`${dir}/sub/x.txt`, 0o600);
    await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
    await Deno.symlink("sub/x.txt", `${dir}/link`);
    const { root, files, warnings } = await walk(dir);
    if (root !== dir) throw new Error(root);
    const listed = files.map((f) => `${f.path}:${f.size}:${f.mode.toString(8)}`).join(",");
    if (listed !== "empty:0:644,sub/x.txt:3:600") throw new Error(listed);
    if (warnings.join() !== "skipped symbolic link link") throw new Error(warnings.join());
    const single = await walk(`${dir}/sub/x.txt`);
    if (single.root !== `${dir}/sub` || single.files[0].path !== "x.txt") throw new Error("file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the local API refuses requests without the token", async () => {
  const control = {} as DaemonControl;
  const app = apiApp(control, "secret");
  const bad = await app.request("/status");
  if (bad.status !== 401) throw new Error(`status ${bad.status}`);
  const wrong = await app.request("/status", { headers: { authorization: "Bearer nope" } });
  if (wrong.status !== 401) throw new Error(`status ${wrong.status}`);
  await bad.body?.cancel();
  await wrong.body?.cancel();
});
