/**
 * What the customer's own user (the CLI through the daemon, or the simulation's workload) asks of
 * it, and what it answers.
 *
 * @module
 */

import type { Effect, NodeId } from "../../core/actor.ts";
import type { Message } from "../../core/protocol/mod.ts";
import type { StorageJob, StorageJobResult } from "../../core/storage.ts";

/** A file a backup should read, from `src:<path>`. */
export interface SourceFile {
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
}

/** Requests from the user. */
export type CustomerCommand =
  /** Back up these files, read from `src:<path>`; answered by `backup_done` or `backup_failed`. */
  | { type: "backup"; label: string; files: SourceFile[] }
  /** Restore these files (all when empty) of a version; blocks arrive as `restored_block`. */
  | { type: "restore"; restoreId: number; versionId: string; files: number[] }
  /** Forget a version and ask the suppliers to remove its fragments. */
  | { type: "delete"; versionId: string }
  /**
   * Stop the running (or next queued) backup: its version is dropped, answered `backup_failed`
   * (reason `cancelled by the user`); without any, `command_failed`.
   */
  | { type: "cancel_backup" }
  /** Stop a restore (running or queued): answered `restore_failed` (`cancelled by the user`). */
  | { type: "cancel_restore"; restoreId: number }
  /** Ask for the catalogue (`versions`) or the family (`status`). */
  | { type: "list" }
  | { type: "status" };

/** A version as the user sees it. */
export interface VersionSummary {
  versionId: string;
  label: string;
  createdMs: number;
  complete: boolean;
  /** `incomplete`: its backup was interrupted by a stop of the daemon. */
  status: "uploading" | "complete" | "incomplete";
  files: { path: string; size: number; mode: number; mtimeMs: number }[];
}

/** A family position as the user sees it. */
export interface PositionSummary {
  position: number;
  supplier: NodeId | null;
  state: "empty" | "hiring" | "active";
  online: boolean;
  lastSeenMs: number;
  /** Fragments this position should hold but does not (yet). */
  missing: number;
  /**
   * Whether its supplier's key is pinned: only messages under that key are believed from it.
   * False only briefly, for a supplier named by a record of the format before keys.
   */
  pinned: boolean;
}

/** What the customer tells its user. */
export type CustomerNotice =
  | { type: "hired"; position: number; supplier: NodeId }
  | { type: "fired"; position: number; supplier: NodeId; reason: string }
  | { type: "backup_started"; versionId: string; label: string }
  | {
    type: "backup_progress";
    versionId: string;
    bytesDone: number;
    bytesTotal: number;
    /** Fragments acknowledged, of all fragments of the version (blocks and manifest). */
    fragmentsDone: number;
    fragmentsTotal: number;
  }
  /** Every fragment is stored; `backup_done` follows once an ID server keeps the record. */
  | { type: "backup_recording"; versionId: string }
  | { type: "backup_done"; versionId: string; files: number; bytes: number }
  | { type: "backup_failed"; versionId: string; reason: string }
  | {
    type: "restored_block";
    restoreId: number;
    fileIndex: number;
    blockIndex: number;
    offset: number;
    data: Uint8Array;
  }
  | {
    type: "restored_file";
    restoreId: number;
    fileIndex: number;
    file: VersionSummary["files"][0];
  }
  | { type: "restore_done"; restoreId: number; files: number }
  | { type: "restore_failed"; restoreId: number; reason: string; missing: number }
  | { type: "deleted"; versionId: string }
  /** A customer without records found its family record and took its family back. */
  | { type: "recovered"; suppliers: number; versions: number }
  /** The family record could not be used; nothing is hired until this is fixed. */
  | { type: "recovery_failed"; reason: string }
  /** A command was refused at once (unknown version, queue full, ...). */
  | { type: "command_failed"; command: CustomerCommand["type"]; reason: string }
  | { type: "versions"; versions: VersionSummary[] }
  | {
    type: "status";
    scheme: string;
    positions: PositionSummary[];
    /** Blocks with fewer than N fragments held, and with fewer than K (not restorable now). */
    blocksDegraded: number;
    blocksAtRisk: number;
    /** `recovering`: looking for the family record (a machine without records). */
    phase: "new" | "loading" | "recovering" | "ready";
    /** Versions listed in the family record whose manifests are not read back yet. */
    versionsToRecover: number;
    /** Why recovery stopped, if it did. */
    recoveryProblem: string | null;
    /**
     * Messages refused since the daemon started because the key of their link is not the one
     * pinned for their sender (impostors, or a peer with a key under an ID server's name).
     */
    messagesRefused: number;
  };

/** The customer's protocol: the shared messages, storage jobs, these commands and notices. */
export interface CustomerProtocol {
  message: Message;
  job: StorageJob;
  jobResult: StorageJobResult;
  command: CustomerCommand;
  notice: CustomerNotice;
}

/** An effect of the customer. */
export type E = Effect<CustomerProtocol>;

/** The reason a backup or restore cancelled by the user reports. */
export const CANCELLED = "cancelled by the user";
