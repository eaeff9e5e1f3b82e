// What the CLI's library refuses or cannot reach, as typed errors: the CLI maps each to its exit
// code (client/cli.ts), and any other caller (a script, a test, the quickstart) tells them apart
// without reading the message.

/** Refused before anything changed: bad input, a run already running, no worker polling, no such
 * gate, no key to sign with. The CLI exits 2. */
export class RequestRefused extends Error {
  override readonly name = 'RequestRefused';
}

/** The Temporal server did not answer. The CLI exits 1 (try again later; nothing was asked). */
export class TemporalUnreachable extends Error {
  override readonly name = 'TemporalUnreachable';
}
