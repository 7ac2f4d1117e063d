/**
 * The CLI's side of the daemon API: finds the running daemon through the data directory and
 * turns every failure into one clear sentence.
 *
 * @module
 */

import type { VersionSummary } from "../actors/customer/mod.ts";
import type { JobView, StatusReply } from "./api.ts";
import { CliError } from "./cli/_command.ts";
import { paths, readJson } from "./home.ts";

const NOT_RUNNING = "the daemon is not running; start it with 'bitdust daemon'";

/** A connection to the user daemon of one data directory. */
export class ApiClient {
  private constructor(readonly base: string, readonly token: string) {}

  /** Finds the daemon of `dir`; a {@link CliError} when there is none. */
  static async connect(dir: string): Promise<ApiClient> {
    const p = paths(dir);
    const api = await readJson(p.api) as { port?: number } | null;
    if (api === null || typeof api.port !== "number") throw new CliError(NOT_RUNNING);
    let token: string;
    try {
      token = (await Deno.readTextFile(p.token)).trim();
    } catch {
      throw new CliError(`cannot read ${p.token}; is this your data directory?`);
    }
    return new ApiClient(`http://127.0.0.1:${api.port}`, token);
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      if (e instanceof TypeError) throw new CliError(NOT_RUNNING);
      if (e instanceof DOMException && e.name === "TimeoutError") {
        throw new CliError("the daemon did not answer within 30 s");
      }
      throw e;
    }
    const text = await res.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new CliError(`the daemon answered ${res.status} without JSON`);
    }
    if (!res.ok) {
      const message = (value as { message?: string }).message ?? `HTTP ${res.status}`;
      throw new CliError(message);
    }
    return value as T;
  }

  status(): Promise<StatusReply> {
    return this.#call("GET", "/status");
  }

  versions(): Promise<VersionSummary[]> {
    return this.#call("GET", "/versions");
  }

  async backup(path: string): Promise<string> {
    return (await this.#call<{ jobId: string }>("POST", "/backup", { path })).jobId;
  }

  async restore(target: string, to: string): Promise<string> {
    return (await this.#call<{ jobId: string }>("POST", "/restore", { target, to })).jobId;
  }

  job(id: string): Promise<JobView> {
    return this.#call("GET", `/jobs/${encodeURIComponent(id)}`);
  }

  jobs(): Promise<JobView[]> {
    return this.#call("GET", "/jobs");
  }

  cancel(id: string): Promise<JobView> {
    return this.#call("POST", `/jobs/${encodeURIComponent(id)}/cancel`);
  }

  async deleteVersion(id: string): Promise<void> {
    await this.#call("DELETE", `/versions/${encodeURIComponent(id)}`);
  }
}
