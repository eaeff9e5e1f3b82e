// Machine-readable output (--json): one JSON document on stdout whose shape is the command's JSON
// Schema in schemas/ (named by its `schema` field, versioned: a field is only ever added), with the
// same exit codes as the text. Errors that stop a command before it has anything to report stay
// one line on stderr.

/** `--json`, for every command that reports something. */
export const JSON_OPTION = { json: { type: 'boolean', default: false } } as const;

/** The commands whose output has a schema (schemas/<name>.schema.json). */
export type JsonSchemaName =
  | 'config-check'
  | 'verify'
  | 'secret-status'
  | 'secret-supply'
  | 'status'
  | 'history'
  | 'run'
  | 'schedule'
  | 'schedule-list'
  | 'sync-status'
  | 'resign-token'
  | 'decision'
  | 'cancel'
  | 'codec-keyring';

export function printJson(schema: JsonSchemaName, body: Record<string, unknown>): void {
  console.log(JSON.stringify({ schema: `rekey/${schema}/1`, ...body }, null, 2));
}

/** One record of a stream (JSON lines: `rekey history --json`), on one line. */
export function printJsonLine(schema: JsonSchemaName, body: object): void {
  console.log(JSON.stringify({ schema: `rekey/${schema}/1`, ...body }));
}
