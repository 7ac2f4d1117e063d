/**
 * Keeps a running node's identity alive on its ID servers.
 *
 * ID servers drop an identity nobody re-publishes for `IDENTITY_TTL_MS` (30 days; see
 * `actors/idserver/expiry.ts`). A {@link IdentityRefresher} re-publishes the node's document to
 * every one of its ID servers about once a day (`IDENTITY_REFRESH_MS`, jittered by ±10% so that
 * nodes started together do not refresh together). A server that holds the document answers
 * `unchanged` and writes nothing (at most its refresh time, once a day); one that lost it stores
 * it again. When some server could not be reached or refused for a reason that passes (busy,
 * starting, rate limited, a timeout), the next round comes after {@link REFRESH_RETRY_MS}
 * (±50%) instead; a refusal that waiting does not cure (another key holds the name) is traced and
 * tried again at the next daily round. At most one round is in flight; `stop()` cancels the
 * timer and waits for it.
 *
 * `NodeRuntime` runs one for every role it hosts (supplier, user daemon), starting a day after
 * its start-up publish.
 *
 * @module
 */

import type { IdentityDocument } from "../core/identity.ts";
import { IDENTITY_REFRESH_MS } from "../core/limits.ts";
import {
  type HttpOptions,
  publishIdentity,
  type PublishReport,
  type PublishResult,
} from "./identity_client.ts";

/** Delay of the next round after one in which some server failed for a passing reason. */
const REFRESH_RETRY_MS = 60 * 60 * 1000;

/** Failures worth retrying soon: the server may take the document in a moment. */
const PASSING = new Set([
  "unreachable",
  "timeout",
  "http_error",
  "busy",
  "starting",
  "io_error",
  "rate_limited",
]);

/** What an {@link IdentityRefresher} is given. */
export interface IdentityRefreshOptions {
  /** The node's current document. */
  document: IdentityDocument;
  /** Base URLs of the ID servers to keep it on (the document's sources, usually). */
  idServers: readonly string[];
  /** Period of the rounds (default `IDENTITY_REFRESH_MS`). */
  intervalMs?: number;
  /** Delay after a round with passing failures (default {@link REFRESH_RETRY_MS}). */
  retryMs?: number;
  /** Uniform draws in [0, 1) for the jitter (default `Math.random`: nothing secret here). */
  random?: () => number;
  /** Options of each request. */
  http?: HttpOptions;
  /** Publishes one document to one server (default {@link publishIdentity}). */
  publish?: (source: string, doc: IdentityDocument, options: HttpOptions) => Promise<PublishResult>;
  trace?: (event: string, detail?: Record<string, string | number | boolean>) => void;
}

/** What an {@link IdentityRefresher} has done. */
export interface IdentityRefreshCounters {
  /** Rounds run. */
  rounds: number;
  /** Publishes a server answered `stored` or `unchanged`. */
  accepted: number;
  /** Publishes that failed for a passing reason. */
  failed: number;
  /** Publishes refused for a reason that waiting does not cure. */
  refused: number;
}

/** Re-publishes a node's identity about daily; see the module comment. */
export class IdentityRefresher {
  readonly counters: IdentityRefreshCounters = { rounds: 0, accepted: 0, failed: 0, refused: 0 };
  readonly #o: IdentityRefreshOptions;
  readonly #random: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #round: Promise<PublishReport> | null = null;
  #stopped = false;

  constructor(options: IdentityRefreshOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  /** Arms the first round, one period from now (the node has just published). */
  start(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#arm(this.#o.intervalMs ?? IDENTITY_REFRESH_MS, 0.1);
  }

  /** Runs one round now (or joins the one running) and returns what each server said. */
  refreshNow(): Promise<PublishReport> {
    this.#round ??= this.#run().finally(() => this.#round = null);
    return this.#round;
  }

  /** Cancels the timer and waits for a round in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round?.catch(() => {});
  }

  #arm(delayMs: number, spread: number): void {
    clearTimeout(this.#timer); // one timer at most, also after a round run by hand
    if (this.#stopped) return;
    const jittered = Math.round(delayMs * (1 - spread + 2 * spread * this.#random()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.refreshNow().catch(() => {});
    }, Math.max(0, jittered));
  }

  async #run(): Promise<PublishReport> {
    const o = this.#o;
    const publish = o.publish ?? publishIdentity;
    this.counters.rounds++;
    const report: PublishReport = await Promise.all(o.idServers.map(async (source) => ({
      source,
      result: await publish(source, o.document, o.http ?? {}),
    })));
    let passing = false;
    for (const { source, result } of report) {
      if (result.ok) {
        this.counters.accepted++;
        continue;
      }
      const soon = PASSING.has(result.reason);
      passing ||= soon;
      if (soon) this.counters.failed++;
      else this.counters.refused++;
      o.trace?.("identity.refresh_failed", { source, reason: result.reason });
    }
    if (passing) this.#arm(o.retryMs ?? REFRESH_RETRY_MS, 0.5);
    else this.#arm(o.intervalMs ?? IDENTITY_REFRESH_MS, 0.1);
    return report;
  }
}
