/** The command line's one error: what to tell the user, and the exit code (2: bad usage or input,
 * or a run refused before it changed anything; 1: a run failed). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
  }
}
