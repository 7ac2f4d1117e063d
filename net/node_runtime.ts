/**
 * One bitdust node for real: an actor in a {@link Host}, talking to other nodes over the TCP
 * transport and to ID servers over HTTP, with its blobs in stores and its CPU jobs on workers.
 *
 * Start-up, in order:
 * 1. bind the TCP listener (port 0: the system picks), so the contact `tcp://HOST:PORT` is known;
 * 2. publish the node's identity with that contact to its ID servers, one revision above the
 *    one they hold (a restarted node may have moved);
 * 3. start the transport (peers are found through their identities on the same ID servers) and
 *    the host;
 * 4. from then on re-publish the identity about daily (`identity_refresh.ts`), so that the ID
 *    servers, which drop identities nobody refreshes for 30 days, keep it.
 *
 * Messages: the actor's `send` goes to the ID-server gateway when the recipient is an ID server
 * (named `host:port`), else it is encoded and handed to the transport. Messages from the
 * transport are decoded and delivered; bytes that do not decode are counted and dropped.
 *
 * @module
 */

import type { Actor, NodeId, Protocol } from "../core/actor.ts";
import { encode, tryDecode } from "../core/codec.ts";
import { type IdentityDocument, reviseIdentity, signIdentity } from "../core/identity.ts";
import { createIdentityCache, lookupIdentity } from "../core/identity_cache.ts";
import { Random } from "../core/prng.ts";
import { type Message, messageCodec } from "../core/protocol/mod.ts";
import { decodeIdentity } from "../core/identity.ts";
import { stepCryptoFor } from "../data/signing.ts";
import type { BlobStore } from "./blob_store.ts";
import { CliError } from "./cli/_command.ts";
import { Host } from "./host.ts";
import { IdGateway, idServerNodeId } from "./id_gateway.ts";
import {
  createIdentity,
  fetchIdentity,
  PeerLookup,
  type PeerLookupOptions,
  publishIdentity,
} from "./identity_client.ts";
import { IdentityRefresher } from "./identity_refresh.ts";
import type { NodeKeys } from "./keys.ts";
import { TcpTransport } from "./tcp/mod.ts";
import type { PeerResolver } from "./transport.ts";

/** What a node is made of. */
export interface RuntimeOptions<S, P extends Protocol> {
  keys: NodeKeys;
  /** ID-server base URLs (`http://host:port`). */
  idServers: string[];
  listenHost: string;
  listenPort: number;
  actor: Actor<S, P>;
  /** The actor's initial state, made once the node's identity is published. */
  makeState: (identity: IdentityDocument) => S;
  store: BlobStore;
  runJob?: (job: P["job"]) => Promise<P["jobResult"]>;
  /** Longest wait between two dials of an unreachable peer (default: the transport's). */
  redialMaxMs?: number;
  trace?: (event: string, detail?: Record<string, string | number | boolean>) => void;
}

/** The ID servers' node names (`host:port`) for base URLs; a {@link CliError} for a bad one. */
export function idServerIds(urls: string[]): NodeId[] {
  return urls.map((url) => {
    const id = idServerNodeId(url);
    if (id === null) throw new CliError(`not an ID-server URL: ${url}`);
    return id;
  });
}

/** Publishes `keys`'s identity with `contact`, one revision above what the servers hold. */
async function publishWithContact(
  keys: NodeKeys,
  idServers: string[],
  contact: string,
): Promise<IdentityDocument> {
  const crypto = stepCryptoFor(keys.signingPrivateKey);
  const sign = (d: Uint8Array) => crypto.sign(d);
  let revision = 0;
  for (const url of idServers) {
    const got = await fetchIdentity(url, keys.name);
    if (!got.ok) continue;
    const decoded = decodeIdentity(got.bytes);
    if (decoded.ok) revision = Math.max(revision, decoded.doc.revision);
  }
  const base = createIdentity(keys, idServers, [contact], Date.now(), sign);
  const doc = revision === 0 ? base : signIdentity(
    reviseIdentity({ ...base, revision }, { contacts: [contact] }, Date.now()),
    sign,
  );
  const refusals: string[] = [];
  let published = 0;
  for (const url of idServers) {
    const r = await publishIdentity(url, doc);
    if (r.ok) published++;
    else refusals.push(`${url}: ${r.reason}`);
  }
  if (published === 0) {
    throw new CliError(`no ID server accepted this node's identity (${refusals.join("; ")})`);
  }
  return doc;
}

/**
 * The resolver of a real node's transport, over a fresh identity cache: which key a name means
 * and where it listens. A name nothing is cached for is looked up on the node's own ID servers
 * (`idServers`; never on the sources a peer's document names, which the peer chose), for a
 * dial as for a peer dialing in (`confirm`), with the bounds of {@link PeerLookup}. So a node
 * that just started, with nothing cached, trusts nobody it has not confirmed there.
 */
export function peerResolver(idServers: string[], options: PeerLookupOptions = {}): PeerResolver {
  const cache = createIdentityCache();
  const lookups = new PeerLookup(cache, stepCryptoFor(), idServers, options);
  const info = (doc: IdentityDocument | undefined) =>
    doc === undefined ? undefined : { signingKey: doc.signingKey, contacts: doc.contacts };
  return {
    lookup: (name) => info(lookupIdentity(cache, name)),
    confirm: (name, key) => lookups.confirm(name, key),
    async resolve(name, options) {
      const cached = lookupIdentity(cache, name);
      if (cached === undefined) {
        const found = await lookups.find(name);
        return typeof found === "string" ? undefined : info(found);
      }
      if (!options?.refresh) return info(cached);
      return info(await lookups.refresh(name) ?? cached);
    },
  };
}

/** A running node. */
export class NodeRuntime<S, P extends Protocol> {
  readonly host: Host<S, P>;
  readonly transport: TcpTransport;
  readonly gateway: IdGateway;
  readonly contact: string;
  readonly identity: IdentityDocument;
  /** Keeps {@link identity} on the ID servers; runs from {@link begin} to {@link stop}. */
  readonly refresher: IdentityRefresher;
  /** Messages from the transport that did not decode. */
  malformed = 0;
  /** Messages from a peer that took the name of one of our ID servers. */
  impostors = 0;

  private constructor(
    host: Host<S, P>,
    transport: TcpTransport,
    gateway: IdGateway,
    contact: string,
    identity: IdentityDocument,
    refresher: IdentityRefresher,
  ) {
    this.refresher = refresher;
    this.host = host;
    this.transport = transport;
    this.gateway = gateway;
    this.contact = contact;
    this.identity = identity;
  }

  /** Binds, publishes and starts a node; see the module comment. */
  static async start<S, P extends Protocol>(o: RuntimeOptions<S, P>): Promise<NodeRuntime<S, P>> {
    const ids = new Set(idServerIds(o.idServers));
    let listener: Deno.TcpListener;
    try {
      listener = Deno.listen({ hostname: o.listenHost, port: o.listenPort });
    } catch (e) {
      throw new CliError(
        `cannot listen on ${o.listenHost}:${o.listenPort}: ${(e as Error).message}`,
      );
    }
    const contact = `tcp://${o.listenHost}:${listener.addr.port}`;
    let identity: IdentityDocument;
    try {
      identity = await publishWithContact(o.keys, o.idServers, contact);
    } catch (e) {
      listener.close();
      throw e;
    }
    const transport = new TcpTransport({
      identity,
      signingPrivateKey: o.keys.signingPrivateKey,
      resolver: peerResolver(o.idServers),
      listener,
      trace: o.trace,
      ...(o.redialMaxMs === undefined ? {} : { backoffMaxMs: o.redialMaxMs }),
    });
    const ref: { host?: Host<S, P> } = {};
    const deliver = (from: NodeId, fromKey: Uint8Array | null, message: Message) =>
      ref.host?.deliver({ kind: "message", from, fromKey, message: message as P["message"] });
    // Answers from our own ID servers come over HTTP, through the gateway: no link key.
    const gateway = new IdGateway({ deliver: (from, message) => deliver(from, null, message) });
    // The seeded stream is for jitter and shuffles only; secrets come from the host's CSPRNG.
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    const host = new Host<S, P>({
      actor: o.actor,
      state: o.makeState(identity),
      self: o.keys.name,
      crypto: stepCryptoFor(o.keys.signingPrivateKey),
      random: Random.stream(seed, o.keys.name),
      store: o.store,
      runJob: o.runJob === undefined ? undefined : guardJobs(o.runJob),
      send: (to, message) => {
        const m = message as Message;
        if (ids.has(to)) gateway.send(to, m);
        else transport.send(to, encode(messageCodec, m));
      },
      trace: o.trace,
    });
    ref.host = host;
    const refresher = new IdentityRefresher({
      document: identity,
      idServers: o.idServers,
      trace: o.trace,
    });
    const runtime = new NodeRuntime(host, transport, gateway, contact, identity, refresher);
    transport.onMessage((from, bytes, key) => {
      if (ids.has(from)) {
        // A peer named like one of our ID servers: ID servers answer over HTTP only.
        runtime.impostors++;
        return;
      }
      const decoded = tryDecode(messageCodec, bytes);
      if (!decoded.ok) {
        runtime.malformed++;
        return;
      }
      deliver(from, key, decoded.value);
    });
    return runtime;
  }

  /** Starts the actor (after notice subscribers are in place). */
  begin(): void {
    this.host.start();
    this.refresher.start();
  }

  /** Stops taking messages, lets blob operations finish, closes everything. */
  async stop(): Promise<void> {
    await this.refresher.stop();
    await this.transport.close();
    await this.gateway.close();
    await this.host.stop();
  }
}

/**
 * Turns a job runner's rejection (a crashed worker) into a failed result, so the actor answers
 * its user instead of the host stopping on what is not the actor's bug.
 */
function guardJobs<J, R>(run: (job: J) => Promise<R>): (job: J) => Promise<R> {
  return (job) =>
    run(job).catch((e) =>
      ({
        type: "failed",
        error: "crashed",
        message: `the job could not run: ${(e as Error).message}`,
      }) as R
    );
}
