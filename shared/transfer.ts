// What the copy activity reports while rsync runs: its heartbeat details, which the server keeps
// with the pending activity (describe, `rekey status`, the Web UI) and never adds to the history.

/** What a running rsync last reported. */
export interface TransferProgress {
  /** Bytes of file data the transfer has got through (rsync --info=progress2). */
  bytes: number;
  percent: number;
  /** rsync's rate, e.g. "41.2MB/s". */
  rate: string;
  /** The file being transferred now. */
  file?: string;
  /** 1 for the first attempt; more after a worker was lost or the transfer broke. */
  attempt: number;
}
