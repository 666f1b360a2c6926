/**
 * Structural check shared by the parser tests: a ParsedEvent without `error` must become a valid canonical
 * event once the pipeline adds consent and identifiers; one with `error` must still carry an id and a reason.
 */
import { EVENT_TYPES, canonicalEventSchema, formatIssues, type ParsedEvent } from '../../../src/core/event';

/** Problems with a parsed event's shape, empty when it is fine. */
export function structuralProblems(p: ParsedEvent): string[] {
  if (p.error !== undefined) {
    const problems: string[] = [];
    if (typeof p.error !== 'string' || p.error.trim() === '') problems.push('error is not a non-empty string');
    if (!EVENT_TYPES.includes(p.event.type)) problems.push(`type ${String(p.event.type)} is not a canonical type`);
    if (typeof p.event.event_id !== 'string' || p.event.event_id === '') problems.push('quarantined event has no id');
    return problems;
  }
  const candidate = {
    ...p.event,
    // Granted consent so the schema's "identifiers without analytics consent" rule does not apply here.
    consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: true, source: 'explicit' },
    identifiers: {},
  };
  const checked = canonicalEventSchema.safeParse(candidate);
  return checked.success ? [] : formatIssues(checked.error);
}
