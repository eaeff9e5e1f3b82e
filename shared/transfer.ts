// What the copy activity reports to its hop workflow while rsync runs (a signal: the activity
// side names it, the workflow side defines it in workflows/messages.ts).

/** What a running rsync last reported, sent by the copy activity to its hop workflow. */
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

export const TRANSFER_PROGRESS_SIGNAL = 'transferProgress';
