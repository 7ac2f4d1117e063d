import { checkEcc, DEFAULT_FLAGS, FlagError, parseFlags, parseSize } from "./flags.ts";

function rejects(args: string[], fragment: string): void {
  try {
    parseFlags(args);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    if (!e.message.includes(fragment)) throw new Error(`message '${e.message}' lacks ${fragment}`);
    if (e.message.includes("\n")) throw new Error("error message spans lines");
    return;
  }
  throw new Error(`accepted ${args.join(" ")}`);
}

Deno.test("parseFlags: defaults, both value forms, and every flag", () => {
  const d = parseFlags([]);
  if (JSON.stringify(d) !== JSON.stringify(DEFAULT_FLAGS)) throw new Error("defaults changed");
  const f = parseFlags([
    "--nodes=100",
    "--churn",
    "0.5",
    "--downtime-hours",
    "3",
    "--permanent=0.2",
    "--days",
    "7",
    "--ecc",
    "mirror:2",
    "--customers",
    "0.1",
    "--files",
    "2",
    "--file-size",
    "1MiB",
    "--seed",
    "abc",
    "--no-repair",
    "--json",
    "/tmp/x.json",
    "--quiet",
  ]);
  const want = {
    nodes: 100,
    churn: 0.5,
    downtimeHours: 3,
    permanent: 0.2,
    days: 7,
    ecc: "mirror:2",
    customers: 0.1,
    files: 2,
    fileSize: 1024 * 1024,
    seed: "abc",
    repair: false,
    json: "/tmp/x.json",
    quiet: true,
  };
  for (const [k, v] of Object.entries(want)) {
    if (f[k as keyof typeof f] !== v) throw new Error(`${k}: ${f[k as keyof typeof f]}`);
  }
  if (parseFlags(["--seed", "42"]).seed !== 42) throw new Error("numeric seed");
});

Deno.test("parseFlags: bad values give one clear line", () => {
  rejects(["--churn", "abc"], "--churn must be a number");
  rejects(["--churn", "-1"], "--churn");
  rejects(["--nodes", "1"], "--nodes must be a whole number from 2");
  rejects(["--nodes", "1.5"], "--nodes");
  rejects(["--permanent", "1.5"], "--permanent");
  rejects(["--days", "0"], "--days");
  rejects(["--downtime-hours", "0"], "--downtime-hours");
  rejects(["--ecc", "rs:0+4"], "K >= 1");
  rejects(["--ecc", "raid5"], "expected rs:K+M or mirror:N");
  rejects(["--customers", "0"], "--customers");
  rejects(["--bogus"], "unknown flag --bogus");
  rejects(["--nodes"], "--nodes needs a value");
  rejects(["--quiet=yes"], "--quiet takes no value");
  rejects(["stray"], "unexpected argument 'stray'");
});

Deno.test("parseSize and checkEcc", () => {
  const sizes: [string, number | null][] = [
    ["0", 0],
    ["262144", 262144],
    ["4KiB", 4096],
    ["2M", 2 * 1024 * 1024],
    ["1g", 1024 ** 3],
    ["-1", null],
    ["1.5M", null],
    ["x", null],
  ];
  for (const [text, want] of sizes) {
    if (parseSize(text) !== want) throw new Error(`${text}: ${parseSize(text)}`);
  }
  for (const ok of ["rs:4+4", "rs:1+0", "rs:10+20", "rs:29+51", "rs:128+128", "mirror:2"]) {
    if (checkEcc(ok) !== null) throw new Error(`${ok} refused`);
  }
  for (const bad of ["rs:200+57", "mirror:0", "rs:4-4", "rs:+4"]) {
    if (checkEcc(bad) === null) throw new Error(`${bad} accepted`);
  }
});

Deno.test("deno task sim: a bad flag prints one line and exits 2", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "sim/main.ts", "--churn", "lots"],
    cwd: new URL("..", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  if (out.code !== 2) throw new Error(`exit ${out.code}`);
  if (err.split("\n").length !== 1 || !err.startsWith("sim: --churn")) throw new Error(err);
});
