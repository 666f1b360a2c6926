/**
 * CSV for Salesforce Bulk API 2.0 (RFC 4180: comma, LF line endings, double quotes doubled). Pure.
 */

/** One CSV document from records; `columns` fixes the header order. Absent values are empty (= leave unchanged). */
export function toCsv(columns: string[], records: Record<string, unknown>[]): string {
  const lines = [csvHeader(columns)];
  for (const record of records) lines.push(csvLine(columns, record));
  return `${lines.join('\n')}\n`;
}

/** The header line (no line ending). */
export function csvHeader(columns: string[]): string {
  return columns.map(escape).join(',');
}

/** One record's CSV line (no line ending). */
export function csvLine(columns: string[], record: Record<string, unknown>): string {
  return columns.map((c) => escape(cell(record[c]))).join(',');
}

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : String(value);
}

function escape(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Parses CSV into objects keyed by the header row. */
export function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  const [header, ...body] = rows;
  if (!header) return [];
  return body
    .filter((r) => r.length > 1 || r[0] !== '')
    .map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ''])));
}
