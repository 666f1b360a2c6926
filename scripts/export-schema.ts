/**
 * Writes the canonical event v1 JSON Schema to docs/event.schema.json (from the zod schema in src/core/event.ts).
 *   npx tsx scripts/export-schema.ts
 * A test fails when the committed file is out of date.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SCHEMA_VERSION, canonicalEventSchema } from '../src/core/event';

export function eventJsonSchema(): string {
  const schema = z.toJSONSchema(canonicalEventSchema, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' });
  return (
    JSON.stringify(
      {
        $id: `https://tagpipe.dev/schemas/canonical-event-v${SCHEMA_VERSION}.json`,
        title: `tagpipe canonical event v${SCHEMA_VERSION}`,
        ...schema,
      },
      null,
      2,
    ) + '\n'
  );
}

export const SCHEMA_FILE = path.join(__dirname, '..', 'docs', 'event.schema.json');

if (require.main === module) {
  fs.writeFileSync(SCHEMA_FILE, eventJsonSchema());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
