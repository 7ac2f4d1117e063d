/**
 * The user daemon's local HTTP API, for the `bitdust` CLI (hono, 127.0.0.1 only).
 *
 * Every request must carry `Authorization: Bearer <token>`, the random token the daemon keeps in
 * `api.token` (mode 0600), so only the user who owns the data directory can drive it. The header
 * is compared with {@link sameSecret}, in constant time: SHA-256 digests of both sides, compared
 * with `timingSafeEqual`, so neither the position of the first wrong character nor the length of
 * the token shows in the time a refusal takes.
 *
 * | method | path              | does                                                         |
 * |--------|-------------------|--------------------------------------------------------------|
 * | GET    | `/status`         | family, health, running job                                  |
 * | GET    | `/versions`       | the catalogue                                                |
 * | POST   | `/backup`         | `{path}`: starts a backup; `202 {jobId}`                      |
 * | POST   | `/restore`        | `{target, to}`: version id (or prefix) or path; `202 {jobId}` |
 * | GET    | `/jobs`           | the running backups and restores                             |
 * | GET    | `/jobs/<id>`      | progress and outcome of a backup or restore                  |
 * | POST   | `/jobs/<id>/cancel` | stops a running job; its backup's version is deleted       |
 * | DELETE | `/versions/<id>`  | forgets a version and removes its fragments                   |
 *
 * Refusals are 4xx/5xx with `{ "error": <code>, "message": <one sentence> }`.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { PositionSummary, VersionSummary } from "../actors/customer/mod.ts";
import type { VersionHealth } from "../actors/customer/status.ts";

/** A refusal the API reports as-is. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: 400 | 404 | 409 | 503 | 507,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The daemon's health as `GET /status` reports it. */
export interface StatusReply {
  name: string;
  scheme: string;
  positions: PositionSummary[];
  blocksDegraded: number;
  /** Blocks of complete versions with fewer than K fragments on suppliers online now. */
  blocksAtRisk: number;
  /** Blocks of complete versions with at least K fragments on suppliers online now. */
  blocksRestorableNow: number;
  /** Per version: what can be restored now (the same figures `ls` shows). */
  health: VersionHealth[];
  /**
   * Requests to suppliers and ID servers that got no answer within the request timeout, since
   * the daemon started: a restore that fails at once has waited on none.
   */
  requestsTimedOut: number;
  versions: number;
  job: JobView | null;
  /** `recovering` while a new machine looks for its family; see the customer's status. */
  phase: string;
  versionsToRecover: number;
  recoveryProblem: string | null;
  /** Why this daemon does not write now (the writer lease), or `null` while it may write. */
  writerLease: string | null;
}

/** A backup or restore as the CLI follows it. */
export interface JobView {
  jobId: string;
  kind: "backup" | "restore";
  /** The version being made (once the backup started) or restored. */
  version: string;
  state: "waiting" | "running" | "done" | "failed";
  bytesDone: number;
  bytesTotal: number;
  /** What was made or restored (version id, destination), once done. */
  result: string;
  /** One sentence, once failed. */
  error: string;
  /** Things worth telling (skipped symlinks, ...). */
  warnings: string[];
  /** What a running job is waiting for, when it is not moving bytes. */
  waitingFor: string;
}

/** What the daemon offers the API. */
export interface DaemonControl {
  status(): Promise<StatusReply>;
  versions(): Promise<VersionSummary[]>;
  startBackup(path: string): Promise<string>;
  startRestore(target: string, to: string): Promise<string>;
  job(id: string): JobView | undefined;
  /** The running jobs. */
  jobs(): JobView[];
  /** Stops a running job (a {@link ApiError} when there is none by that id). */
  cancel(id: string): JobView;
  deleteVersion(versionId: string): Promise<void>;
}

/**
 * Whether `presented` equals `expected`, in time that depends on neither's content or length:
 * both are hashed (SHA-256) and the digests compared with `timingSafeEqual`.
 */
export function sameSecret(presented: string, expected: string): boolean {
  const digest = (s: string) => createHash("sha256").update(s, "utf8").digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The hono app of the API. */
export function apiApp(control: DaemonControl, token: string): Hono {
  const app = new Hono();
  const wanted = `Bearer ${token}`;
  app.use("*", async (c, next) => {
    if (!sameSecret(c.req.header("authorization") ?? "", wanted)) {
      return c.json({ error: "unauthorized", message: "wrong or missing API token" }, 401);
    }
    await next();
  });
  app.use("*", bodyLimit({ maxSize: 64 * 1024 }));
  app.onError((e, c) => {
    if (e instanceof ApiError) return c.json({ error: e.code, message: e.message }, e.status);
    console.error(`bitdust daemon: API error: ${e.stack ?? e.message}`);
    return c.json({ error: "internal", message: "the daemon failed; see its log" }, 500);
  });
  app.get("/status", async (c) => c.json(await control.status()));
  app.get("/versions", async (c) => c.json(await control.versions()));
  app.post("/backup", async (c) => {
    const body = await jsonBody(c.req.raw);
    if (typeof body.path !== "string") throw new ApiError(400, "bad_request", "give a path");
    return c.json({ jobId: await control.startBackup(body.path) }, 202);
  });
  app.post("/restore", async (c) => {
    const body = await jsonBody(c.req.raw);
    if (typeof body.target !== "string" || typeof body.to !== "string") {
      throw new ApiError(400, "bad_request", "give a version or path and a destination");
    }
    return c.json({ jobId: await control.startRestore(body.target, body.to) }, 202);
  });
  app.get("/jobs", (c) => c.json(control.jobs()));
  app.post("/jobs/:id/cancel", (c) => c.json(control.cancel(c.req.param("id"))));
  app.get("/jobs/:id", (c) => {
    const job = control.job(c.req.param("id"));
    if (job === undefined) throw new ApiError(404, "no_job", "no such job");
    return c.json(job);
  });
  app.delete("/versions/:id", async (c) => {
    await control.deleteVersion(c.req.param("id"));
    return c.json({ deleted: c.req.param("id") });
  });
  return app;
}

async function jsonBody(req: Request): Promise<Record<string, unknown>> {
  try {
    const body = await req.json();
    if (typeof body === "object" && body !== null) return body;
  } catch {
    // fall through
  }
  throw new ApiError(400, "bad_request", "the body must be a JSON object");
}
