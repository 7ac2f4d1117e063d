/**
 * Simulator scaling: wall time and peak memory of the default storage run (30 simulated days,
 * churn 0.2) at 100, 500, 2,000 and 10,000 nodes, each in its own process. The baseline is the
 * 100-node run of the same invocation: the table shows how cost grows against it, per node and
 * per message.
 *
 * `deno task bench sim` runs 100, 500 and 2,000 nodes; set `SIM_BENCH_NODES=100,500,2000,10000`
 * for the large one.
 *
 * Heap limit: the simulated disks hold every stored fragment as a real `Uint8Array`, outside the
 * JS heap, and V8 counts such external memory against a global limit derived from the old-space
 * limit (about 8 GiB with the default 4 GiB old space). A run whose fragments outgrow it (10,000
 * nodes reaches 8 GiB after about two simulated weeks) is not killed: V8 collects garbage over and
 * over instead, and the run slows by an order of magnitude. The children therefore get a larger
 * old space, `SIM_BENCH_OLD_SPACE_MB` (16 GiB by default); it is a limit, not a reservation, and
 * does not change results.
 *
 * @module
 */

/** Old-space limit of the simulation processes, MiB. */
const OLD_SPACE_MB = Number(Deno.env.get("SIM_BENCH_OLD_SPACE_MB") ?? 16_384);

interface Run {
  nodes: number;
  wallMs: number;
  peakRssBytes: number;
  messages: number;
  events: number;
}

async function peakRss(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

async function runOnce(nodes: number): Promise<Run> {
  const json = await Deno.makeTempFile({ suffix: ".json" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      `--v8-flags=--max-old-space-size=${OLD_SPACE_MB}`,
      "sim/main.ts",
      `--nodes=${nodes}`,
      "--quiet",
      `--json=${json}`,
    ],
    cwd: new URL("..", import.meta.url),
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  let peak = 0;
  const poll = setInterval(async () => {
    peak = Math.max(peak, await peakRss(child.pid));
  }, 250);
  const status = await child.status;
  clearInterval(poll);
  if (!status.success) throw new Error(`sim with ${nodes} nodes exited ${status.code}`);
  const report = JSON.parse(await Deno.readTextFile(json));
  await Deno.remove(json);
  return {
    nodes,
    wallMs: report.wallMs,
    peakRssBytes: peak,
    messages: report.messages,
    events: report.events,
  };
}

/** Runs the scaling benchmark and prints its table. */
export async function run(): Promise<void> {
  const sizes = (Deno.env.get("SIM_BENCH_NODES") ?? "100,500,2000").split(",").map(Number);
  const runs: Run[] = [];
  for (const nodes of sizes) runs.push(await runOnce(nodes));
  const base = runs[0];
  console.log("nodes    wall s   vs base  ms/node  µs/msg   peak RSS MiB  KiB/node");
  for (const r of runs) {
    console.log(
      [
        String(r.nodes).padEnd(8),
        (r.wallMs / 1000).toFixed(1).padStart(7),
        `${(r.wallMs / base.wallMs).toFixed(1)}x`.padStart(8),
        (r.wallMs / r.nodes).toFixed(1).padStart(8),
        ((r.wallMs * 1000) / r.messages).toFixed(2).padStart(7),
        (r.peakRssBytes / 1024 ** 2).toFixed(0).padStart(13),
        (r.peakRssBytes / 1024 / r.nodes).toFixed(0).padStart(9),
      ].join(" "),
    );
  }
}

if (import.meta.main) await run();
