/**
 * Named maxima. Every queue, table and message field in bitdust is bounded by one of these, checked
 * on insert, with a defined reject path. Raise a limit here, never inline.
 *
 * @module
 */

/** Largest encoded message accepted from a peer (a fragment plus its headers). */
export const MESSAGE_BYTES_MAX = 16 * 1024 * 1024 + 64 * 1024;
/** Largest node name, in bytes of UTF-8. */
export const NODE_ID_BYTES_MAX = 256;
/** Largest blob key, in bytes of UTF-8. */
export const BLOB_KEY_BYTES_MAX = 512;
/** Largest number of nodes a simulation may hold at once. */
export const SIM_NODES_MAX = 1_000_000;
/** Largest number of pending events in the simulator's queue. */
export const SIM_EVENTS_PENDING_MAX = 50_000_000;
/** Largest number of effects a single step may return (a runaway loop is a bug). */
export const STEP_EFFECTS_MAX = 100_000;
/** How far a signed statement's issue time may be ahead of the receiver's clock. */
export const CLOCK_SKEW_MS_MAX = 5 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Identities and ID servers

/** Largest encoded identity document (binary form, signature included). */
export const IDENTITY_DOC_BYTES_MAX = 8 * 1024;
/** Largest JSON rendering of an identity document an ID server accepts in a `PUT`. */
export const IDENTITY_JSON_BYTES_MAX = 24 * 1024;
/** Most contacts (`tcp://host:port`, `relay://<router>`) an identity may list. */
export const IDENTITY_CONTACTS_MAX = 8;
/** Fewest ID-server URLs an identity lists as its sources. */
export const IDENTITY_SOURCES_MIN = 1;
/** Most ID-server URLs an identity lists as its sources. */
export const IDENTITY_SOURCES_MAX = 6;
/** Largest contact or source URL, in bytes. */
export const IDENTITY_URL_BYTES_MAX = 256;
/** Most identity documents one ID server hosts. */
export const IDSERVER_IDENTITIES_MAX = 200_000;
/** Most supplier offers one ID server keeps in its directory. */
export const IDSERVER_OFFERS_MAX = 200_000;
/** Most names one `GET /` page lists. */
export const IDSERVER_LIST_PAGE_MAX = 1000;
/** Most blob reads an ID server keeps in flight while it loads its documents at start. */
export const IDSERVER_LOAD_READS_MAX = 64;
/** Most document writes an ID server keeps in flight; more publishes are refused as `busy`. */
export const IDSERVER_WRITES_PENDING_MAX = 1024;
/** Most HTTP requests an ID server's host holds open waiting for the actor's answer. */
export const IDSERVER_PENDING_REQUESTS_MAX = 10_000;
/** Longest life of a supplier offer, from its issue time to its expiry. */
export const OFFER_TTL_MS_MAX = 24 * 60 * 60 * 1000;
/** Most offers one offer query may ask for and one reply may carry. */
export const OFFER_QUERY_RESULTS_MAX = 64;
/** Most suppliers one offer query may exclude. */
export const OFFER_QUERY_EXCLUDE_MAX = 256;
/** Most identities a node's identity cache holds. */
export const IDENTITY_CACHE_ENTRIES_MAX = 100_000;
/** Public Ed25519 and X25519 keys, in bytes. */
export const PUBLIC_KEY_BYTES = 32;
/** Ed25519 signatures, in bytes. */
export const SIGNATURE_BYTES = 64;
/** Largest sealed body of a family record: 256 positions with the longest names fit. */
export const FAMILY_SEALED_BYTES_MAX = 80 * 1024;
/** Most versions a family record lists (the newest); a new machine does not find older ones. */
export const RECOVERY_VERSIONS_MAX = 400;
/** Largest fragment a supplier accepts: a 16 MiB block under `mirror:N`, plus its tag. */
export const FRAGMENT_BYTES_MAX = 16 * 1024 * 1024 + 64;
/** Largest fragment key a customer may choose, in bytes. */
export const FRAGMENT_KEY_BYTES_MAX = 128;
/** Most keys one `remove` may name. */
export const REMOVE_KEYS_MAX = 1024;
/** Most keys one `list_reply` carries (the customer pages with `after`). */
export const LIST_KEYS_MAX = 1024;
/** Largest Merkle leaf an audit answer may carry. */
export const AUDIT_LEAF_BYTES_MAX = 64 * 1024;
/** Most sibling hashes in an audit answer's Merkle path (trees of up to 2^32 leaves). */
export const AUDIT_PATH_MAX = 32;

// ---------------------------------------------------------------------------------------------
// Suppliers

/** Most customers (storage contracts) one supplier holds. */
export const SUPPLIER_CUSTOMERS_MAX = 10_000;
/** Most fragments a supplier keeps for one customer. */
export const SUPPLIER_FRAGMENTS_PER_CUSTOMER_MAX = 1_000_000;
/** Most fragments a supplier indexes over all its customers. */
export const SUPPLIER_FRAGMENTS_MAX = 10_000_000;
/** Most blob operations a supplier keeps in flight; more requests are refused as `busy`. */
export const SUPPLIER_BLOB_OPS_MAX = 256;
/** Most audits (a fragment read, then a proof job) a supplier works on at once. */
export const SUPPLIER_AUDITS_MAX = 32;
/** Most removals and contract cancellations a supplier has queued or running at once. */
export const SUPPLIER_DELETE_TASKS_MAX = 256;
/** Largest encoded contract record on a supplier's disk. */
export const SUPPLIER_CONTRACT_RECORD_BYTES_MAX = 512;

// ---------------------------------------------------------------------------------------------
// Transports (net/transport.ts, net/transport_memory.ts, net/tcp/)

/** Bytes a TCP data frame adds to its message inside the length prefix: counter and AEAD tag. */
export const TCP_FRAME_OVERHEAD_BYTES = 8 + 16;
/** Largest handshake frame body: an identity document, keys, a boot id and a signature. */
export const TCP_HANDSHAKE_FRAME_BYTES_MAX = IDENTITY_DOC_BYTES_MAX + 1024;
/** Authenticated connections one TCP transport keeps open at once. */
export const TCP_CONNECTIONS_MAX = 1024;
/** Failed dials in a row to one peer before its queued frames are dropped. */
export const TCP_DIAL_ATTEMPTS_MAX = 8;
/** Peers a transport keeps state for at once (a connection, a queue or a dial backoff). */
export const TRANSPORT_PEERS_MAX = 4096;
/** Bytes of accepted, unwritten messages queued for one peer; more sends are refused. */
export const TRANSPORT_PEER_QUEUE_BYTES_MAX = 2 * MESSAGE_BYTES_MAX;
/** Accepted, unwritten messages queued for one peer; more sends are refused. */
export const TRANSPORT_PEER_QUEUE_FRAMES_MAX = 4096;
/** Bytes of accepted, unwritten messages queued for all peers together. */
export const TRANSPORT_QUEUE_BYTES_MAX = 256 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Real host parts (net/fs_store.ts, net/source_store.ts, net/job_pool.ts, net/id_gateway.ts)

/** Most keys one listing of a filesystem blob store returns (a supplier's whole `frag/`). */
export const FS_STORE_LIST_KEYS_MAX = 16 * 1024 * 1024;
/** Most keys one listing of a user's backup root returns. */
export const SOURCE_LIST_KEYS_MAX = 1024 * 1024;
/** Largest single read from a user's backup root (a block is at most 16 MiB). */
export const SOURCE_READ_BYTES_MAX = 64 * 1024 * 1024;
/** Most job workers one pool runs. */
export const JOB_WORKERS_MAX = 64;
/** Jobs a pool holds that no worker has taken yet; more callers wait for room. */
export const JOB_QUEUE_MAX = 64;
/** Callers waiting for room in a job pool's queue; more are refused. */
export const JOB_WAITERS_MAX = 4096;
/** HTTP requests the ID-server gateway keeps in flight; more messages are dropped. */
export const ID_GATEWAY_REQUESTS_MAX = 256;
/** Largest answer body the ID-server gateway reads (offer lists, refusals). */
export const ID_GATEWAY_RESPONSE_BYTES_MAX = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// HTTP servers: the ID server and the daemon's local API (net/http_server.ts)

/** Connections one public HTTP server (the ID server) keeps open at once. */
export const HTTP_CONNECTIONS_MAX = 1024;
/** Connections one IPv4 /24 or IPv6 /64 may hold on a public HTTP server. */
export const HTTP_CONNECTIONS_PER_BLOCK_MAX = 64;
/** Connections the daemon's local API keeps open at once (every client is on this machine). */
export const HTTP_API_CONNECTIONS_MAX = 64;
/** Descriptors left to the rest of the process when its open-files limit is below the cap. */
export const HTTP_DESCRIPTORS_RESERVED = 256;
/**
 * Closed connections whose descriptors the runtime has not released yet (a closed socket's fd is
 * freed only once its pending read is cancelled); accepting pauses beyond this.
 */
export const HTTP_CLOSING_MAX = 32;
/** Time for a whole request head to arrive, from the connection's or the request's first byte. */
export const HTTP_HEADER_TIMEOUT_MS = 10_000;
/** Largest request head (request line and header fields), in bytes. */
export const HTTP_HEADER_BYTES_MAX = 16 * 1024;
/** Most header fields in one request head. */
export const HTTP_HEADER_FIELDS_MAX = 100;
/** Largest request body any route may receive (routes set smaller limits of their own). */
export const HTTP_BODY_BYTES_MAX = 256 * 1024;
/** Time for a request body to arrive once its head has. */
export const HTTP_BODY_TIMEOUT_MS = 20_000;
/** Bytes of request bodies one server holds for all its connections together (by declaration). */
export const HTTP_BODY_BUFFER_BYTES_MAX = 32 * 1024 * 1024;
/** How long a kept-alive connection may sit between two requests. */
export const HTTP_IDLE_TIMEOUT_MS = 15_000;
/** Requests served on one connection before it is closed (the client reconnects). */
export const HTTP_REQUESTS_PER_CONNECTION_MAX = 1000;
/** Time to write one whole response; a client that stops reading is cut off after it. */
export const HTTP_WRITE_TIMEOUT_MS = 20_000;
/** Longest wait for the application's response to one request (then 503 and close). */
export const HTTP_HANDLER_TIMEOUT_MS = 60_000;
/** How long a refused request's unread bytes are drained before its connection is closed. */
export const HTTP_LINGER_MS = 2_000;
/** Most bytes drained from a refused request before its connection is closed. */
export const HTTP_LINGER_BYTES_MAX = 256 * 1024;
/** Response bytes buffered to send a Content-Length; a longer body is sent chunked. */
export const HTTP_RESPONSE_BUFFER_BYTES_MAX = 64 * 1024;
/** Longest pause of the accept loop after a failed accept (descriptors exhausted, ...). */
export const HTTP_ACCEPT_BACKOFF_MS_MAX = 1_000;

// Customer: pinned supplier keys, audits that go unanswered, contract renewal (actors/customer/)

/**
 * Audits in a row a supplier may leave unanswered (silence, `busy`, `io_error`) before the
 * customer fires it: without a limit, a supplier that lost the bytes could dodge every audit.
 */
export const CUSTOMER_AUDIT_MISSES_MAX = 3;
/**
 * Broken promises about content (a fragment that fails its hash, an audit proof that fails, a
 * fragment lost) a member may make before it is fired. Each one drops the fragment for repair
 * to store again; bit rot on an honest disk makes one now and then, a cheat makes them fast.
 */
export const CUSTOMER_STRIKES_MAX = 3;
/**
 * How long a candidate that refused a contract or did not answer in time is passed over when
 * hiring. Not for good: in a small network, or after our own network trouble, excluding every
 * such candidate forever left nobody to hire (the swarm found a family that never refilled).
 */
export const CUSTOMER_CANDIDATE_SHUN_MS = 6 * 3_600_000;
/** How long a writer-lease claim that found no room in the request table waits to try again. */
export const LEASE_CLAIM_WAIT_MS = 1_000;
/**
 * With repair (and so the heartbeat) off, time between two probes of each supplier: every
 * request renews a contract, and suppliers end contracts that go unrenewed for a long lease.
 */
export const CUSTOMER_RENEW_INTERVAL_MS = 24 * 60 * 60 * 1000;

// ID-server budgets and identity expiry (actors/idserver, net/identity_refresh.ts)

/**
 * Most names one ID server hosts under one Ed25519 signing key. One node is one name; a few more
 * let a user move to a new name while the old one is still hosted.
 */
export const IDSERVER_NAMES_PER_KEY_MAX = 4;
/**
 * New names one address block (an IPv4 /24, an IPv6 /64; a node in the simulator) may register
 * per {@link IDSERVER_REGISTRATION_WINDOW_MS}: a token bucket of this size, refilled evenly over
 * the window. Updates and refreshes of hosted names do not count.
 */
export const IDSERVER_BLOCK_REGISTRATIONS_MAX = 32;
/** Time over which an address block's registration budget refills completely (one hour). */
export const IDSERVER_REGISTRATION_WINDOW_MS = 60 * 60 * 1000;
/**
 * Address blocks whose registration budget an ID server tracks at once; beyond, new blocks
 * share one overflow budget of {@link IDSERVER_BLOCK_REGISTRATIONS_MAX}.
 */
export const IDSERVER_REGISTRATION_BLOCKS_MAX = 65_536;
/**
 * How long an ID server keeps an identity that nobody refreshes (30 days): thirty missed daily
 * refreshes, so a machine that is off for a few weeks keeps its name, while names of nodes that
 * left for good (and junk nobody maintains) free their slot within a month.
 */
export const IDENTITY_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** How often a node re-publishes its identity to its ID servers (jittered by ±10%). */
export const IDENTITY_REFRESH_MS = 24 * 60 * 60 * 1000;
/**
 * A refresh is written to disk only when the refresh time on disk is older than this; otherwise
 * it costs the ID server a signature check and nothing else.
 */
export const IDSERVER_REFRESH_PERSIST_MS = 24 * 60 * 60 * 1000;
/**
 * Time every identity gets to refresh after an ID server loads its records, however old its
 * refresh time: a server restored after a long outage does not drop all its users at once.
 */
export const IDENTITY_LOAD_GRACE_MS = 3 * 24 * 60 * 60 * 1000;
/** Period of an ID server's sweep for expired identities. */
export const IDSERVER_EXPIRY_SWEEP_MS = 10 * 60 * 1000;
/** Hosted names one expiry sweep looks at (it goes on from there at the next sweep). */
export const IDSERVER_EXPIRY_SCAN_MAX = 4096;
/** Expired identities one sweep drops at most (each costs one or two blob deletes). */
export const IDSERVER_EXPIRY_DROPS_MAX = 256;

// TCP admission and budgets (net/tcp/; the peer lookups of net/node_runtime.ts)

/** Longest an inbound connection may take from accept to a verified finish (unauthenticated). */
export const TCP_PREAUTH_TIMEOUT_MS = 5_000;
/** Longest an authenticated inbound connection waits for the check of its name->key binding. */
export const TCP_ADMISSION_TIMEOUT_MS = 5_000;
/** Inbound connections not admitted yet (handshake or binding check under way), in total. */
export const TCP_INBOUND_HANDSHAKES_MAX = 256;
/** Inbound connections not admitted yet from one address block (IPv4 /24, IPv6 /64). */
export const TCP_HANDSHAKES_PER_BLOCK_MAX = 16;
/** Binding checks waiting on an ID-server lookup at once for one address block. */
export const TCP_LOOKUPS_PER_BLOCK_MAX = 4;
/** Authenticated inbound connections from one address block. */
export const TCP_CONNECTIONS_PER_BLOCK_MAX = 64;
/** Connections (open or being admitted) authenticated by one key, whatever names it claims. */
export const TCP_CONNECTIONS_PER_KEY_MAX = 4;
/** Bytes of frame buffers all connections of one transport hold together beyond their shares. */
export const TCP_READ_BUFFER_BYTES_MAX = 64 * 1024 * 1024;
/** Bytes each connection reads frames into without asking the shared budget (its own share). */
export const TCP_CONNECTION_READ_SHARE_BYTES = 16 * 1024;
/** Longest a connection waits for room in the shared frame budget before it is closed. */
export const TCP_READ_BUFFER_WAIT_MS_MAX = 30_000;
/** First pause of an accept loop after a failed accept(); doubles with each failure in a row. */
export const TCP_ACCEPT_RETRY_MS = 50;
/** Longest pause of an accept loop after failed accepts. */
export const TCP_ACCEPT_RETRY_MS_MAX = 1_000;
/** ID-server lookups of peers' identities (binding checks and dials) under way at once. */
export const PEER_LOOKUPS_MAX = 32;
/** Time limit of one lookup's request to one ID server. */
export const PEER_LOOKUP_TIMEOUT_MS = 4_000;
/** Names whose unsuccessful lookup is remembered (not found, keys disagree, no answer). */
export const PEER_LOOKUP_NEGATIVE_ENTRIES_MAX = 4096;
/** How long a lookup that found no document, or documents under several keys, is remembered. */
export const PEER_LOOKUP_NEGATIVE_TTL_MS = 60_000;
/** How long a lookup that no ID server answered is remembered. */
export const PEER_LOOKUP_FAILED_TTL_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Supplier contracts: pinned customer keys, reservations and leases (actors/supplier)

/**
 * How long the unused part of a new (or raised) quota is held against a supplier's capacity;
 * each store that brings new bytes extends it by as much. Afterwards only bytes stored (and
 * stores in flight) count, and a contract that stored nothing by then lapses.
 */
export const SUPPLIER_RESERVATION_MS = 60 * 60 * 1000;
/**
 * A contract its customer has not renewed for this long (60 days) ends like a cancellation,
 * fragments deleted. Every authenticated request from the contract's key renews it; customers
 * probe every 10 minutes while online, and daily with repair off. Twice the ID servers'
 * identity TTL: a user away long enough to lose their name (and register again on return)
 * still finds their data.
 */
export const SUPPLIER_CONTRACT_LEASE_MS = 2 * IDENTITY_TTL_MS;
/**
 * A renewal is written to the contract record only when the renewal time on disk is older than
 * this (about daily); in between it lives in memory, so a probe costs no write.
 */
export const SUPPLIER_RENEWAL_PERSIST_MS = 24 * 60 * 60 * 1000;
/**
 * Time every contract gets to be renewed after a supplier loads its records, however old its
 * renewal on disk: the supplier's own downtime is not its customers' silence.
 */
export const SUPPLIER_LEASE_LOAD_GRACE_MS = 3 * 24 * 60 * 60 * 1000;
/**
 * Names whose contract lapsed that a supplier remembers (the oldest are forgotten first): a
 * contract asked again by such a name is granted without a reservation, so asking again and
 * again holds no space.
 */
export const SUPPLIER_LAPSED_NAMES_MAX = 10_000;
/**
 * How long a supplier remembers a name whose contract lapsed (7 days); a contract granted to
 * such a name without a reservation lapses in turn if it stores nothing for as long.
 */
export const SUPPLIER_LAPSE_MEMORY_MS = 7 * 24 * 60 * 60 * 1000;
/** Contract timers (reservation ends, lease checks) one supplier step handles at most. */
export const SUPPLIER_CONTRACT_TIMERS_PER_STEP_MAX = 64;

// ---------------------------------------------------------------------------------------------
// ID server restarts (issue 11, case 3): how soon supporters find a restarted ID server again.

/**
 * Longest delay between two tries of a real supplier's unanswered or refused announce (2 min;
 * the actor's own default, 10 min, stays for the simulator): after an ID server comes back, its
 * suppliers are in its directory again within this and one reply timeout.
 */
export const SUPPLIER_ANNOUNCE_RETRY_MS_MAX = 2 * 60 * 1000;
/**
 * How long a real supplier waits for an ID server's answer before counting it silent (20 s):
 * above the HTTP gateway's own limit (15 s), so a live server's late answer is still taken.
 */
export const SUPPLIER_ANNOUNCE_REPLY_TIMEOUT_MS = 20_000;

// ---- jobs: every backup makes progress or fails within a bound (issue 11, case 2)

/**
 * Stores of one fragment position a backup sends in a row without any answer before it goes on
 * without that supplier for this version (the position is rebuilt by repair later). Each try
 * waits one request timeout, so a supplier that died is given up after this many timeouts.
 */
export const BACKUP_STORE_TRIES_MAX = 3;
/**
 * Longest a backup may go without progress (a block read or sealed, a fragment acknowledged):
 * then the positions holding it up are given up for this version if the rest still reach the
 * durability floor, else the backup fails with one line naming them (10 minutes).
 */
export const BACKUP_STALL_MS = 10 * 60_000;
/**
 * Share of a scheme's redundancy (fragments beyond K) every block of a backup must keep when
 * positions are given up: with rs:4+4, at least 4 + 2 = 6 of the 8 fragments are acknowledged
 * before a version counts as done.
 */
export const BACKUP_REDUNDANCY_KEPT_SHARE_MIN = 0.5;

// ---- Jobs of the user daemon (backups and restores the CLI follows; issue 11, case 2)

/** Ended jobs the daemon still answers about (`bitdust jobs`, a CLI that polls late). */
export const JOBS_ENDED_KEPT_MAX = 100;
// ---- writer lease (issue 11, case 1: one writer per identity) ----

/**
 * How long a writer lease granted by an ID server lasts (10 min). Its holder renews it every
 * third of that; an instance that cannot renew stops writing before it ends, so a machine cut
 * off from its ID servers stops within this long.
 */
export const WRITER_LEASE_MS = 10 * 60 * 1000;
/** Longest lease an ID server accepts (`expiresMs - nowMs`, 7 days; the simulator uses 6 h). */
export const WRITER_LEASE_SPAN_MAX_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * Margin a lease holder keeps before its lease ends (1 min): it stops writing that long before
 * `expiresMs`, and a take-over waits that long after the old lease's end, for clock drift and
 * for messages still on their way.
 */
export const WRITER_LEASE_MARGIN_MS = 60 * 1000;
/** Longest machine label in a lease (bytes of UTF-8). */
export const WRITER_LEASE_MACHINE_BYTES_MAX = 64;
/** Length of a lease's instance id (bytes of hex text: 16 random bytes). */
export const WRITER_LEASE_INSTANCE_BYTES = 32;
/** Most owners an ID server keeps a writer lease for (memory: about 300 bytes each). */
export const IDSERVER_LEASES_MAX = 65_536;

// ---------------------------------------------------------------------------------------------
// Routers and relayed packets (actors/router, core/protocol/relay.ts, issue 13)

/** Largest relayed envelope: a whole message sealed, with room for the relay header. */
export const RELAY_ENVELOPE_BYTES_MAX = MESSAGE_BYTES_MAX - 1024;
/** Most routes one router holds at once (memory: see `deno task bench router`). */
export const ROUTER_ROUTES_MAX = 4096;
/**
 * Bytes a router keeps waiting for one route (envelopes accepted but not yet passed on because
 * the route is over its bandwidth share): the bytes in flight per route.
 */
export const ROUTE_QUEUE_BYTES_MAX = 8 * 1024 * 1024;
/** Envelopes a router keeps waiting for one route. */
export const ROUTE_QUEUE_FRAMES_MAX = 256;
/** Bytes all of a router's route queues hold together. */
export const ROUTER_QUEUE_BYTES_MAX = 256 * 1024 * 1024;
/** A router's default relay bandwidth, bytes per second (100 Mbit/s). */
export const ROUTER_BANDWIDTH_BYTES_PER_SEC = 12_500_000;
/** Most of a router's bandwidth one route may take (its share; the rest waits in its queue). */
export const ROUTE_BANDWIDTH_SHARE_MAX = 0.25;
/** How often a router pings each route (it also keeps the node's NAT mapping open). */
export const ROUTE_PING_MS = 30_000;
/** Pings a route may leave unanswered in a row before the router drops it. */
export const ROUTE_MISSED_PINGS_MAX = 3;
/** Dial-backs (`reach_check`) a router makes per minute, for everyone together. */
export const ROUTER_REACH_CHECKS_PER_MINUTE = 120;
/** How long a node waits for a router's answer (registration, reachability) before moving on. */
export const ROUTE_ANSWER_TIMEOUT_MS = 10_000;
/** How long after a `reach_check_reply` a node still waits for the dial-back probe. */
export const REACH_PROBE_GRACE_MS = 5_000;
