import fs from 'node:fs';
import { SCHEMA_FILE, eventJsonSchema } from './export-schema';

test('docs/event.schema.json matches the zod contract (regenerate: npx tsx scripts/export-schema.ts)', () => {
  const committed = JSON.parse(fs.readFileSync(SCHEMA_FILE, 'utf8'));
  const current = JSON.parse(eventJsonSchema());
  expect(committed).toEqual(current);
  expect(current.required).toEqual(
    expect.arrayContaining(['event_id', 'type', 'timestamp', 'received_at', 'consent', 'schema_version']),
  );
});
