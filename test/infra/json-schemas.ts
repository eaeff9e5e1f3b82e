// Checks a command's --json output against its JSON Schema in schemas/, with Ajv (draft 2020-12,
// strict, formats checked).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { JsonSchemaName } from '../../client/json';

const repo = join(__dirname, '..', '..', '..');
const ajv = new Ajv2020({ strict: true, allErrors: true });
addFormats(ajv);

export const schemaOf = (name: JsonSchemaName): object =>
  JSON.parse(readFileSync(join(repo, 'schemas', `${name}.schema.json`), 'utf8'));

/** The validator of `name`'s schema (compiled once; strict mode refuses a sloppy schema). */
export const validatorOf = (name: JsonSchemaName) =>
  ajv.getSchema(`https://rekey.dev/schemas/${name}.schema.json`) ?? ajv.compile(schemaOf(name));

/** Fails with Ajv's errors unless `doc` is valid for the schema of `name`. */
export function assertMatchesSchema(name: JsonSchemaName, doc: unknown): void {
  const validate = validatorOf(name);
  assert.ok(validate(doc), `${name}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(doc, null, 2)}`);
}
