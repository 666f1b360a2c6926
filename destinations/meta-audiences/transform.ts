/** Meta custom audience mapping (pure): `marts.audience_members` rows → `payload { schema, data }`. */
import type { SyncRecord } from '../../src/core/destination';
import { accept, identifierHash, refuse, text, type Prepared } from '../shared';
import { SCHEMA, type MetaAudiencesConfig } from './config';

export type MemberRow = [string, string];

export interface Target {
  audienceId: string;
  method: 'POST' | 'DELETE';
}

export function targetKey(target: Target): string {
  return `${target.method} ${target.audienceId}`;
}

export function parseTargetKey(key: string): Target {
  const [method, audienceId] = key.split(' ');
  return { method: method as Target['method'], audienceId };
}

export function toMember(
  record: SyncRecord,
  config: MetaAudiencesConfig,
): Prepared<{ group: string; value: MemberRow }> {
  if (record.action !== 'add' && record.action !== 'remove')
    return refuse(`action ${record.action} is not add or remove`);
  const martAudience = text(record.row, 'audience_id');
  const audienceId = (martAudience !== undefined ? config.audiences[martAudience] : undefined) ?? config.audienceId;
  if (!audienceId) return refuse(`no Meta audience configured for audience_id ${martAudience ?? '(none)'}`);
  const email = identifierHash(record.row, 'email', 'meta');
  const phone = identifierHash(record.row, 'phone', 'meta');
  if (email.error || phone.error) return refuse((email.error ?? phone.error) as string);
  if (!email.value && !phone.value)
    return refuse('no email or phone Meta can match on (a canonical phone hash has the + Meta leaves out)');
  return accept({
    group: targetKey({ audienceId, method: record.action === 'add' ? 'POST' : 'DELETE' }),
    value: [email.value ?? '', phone.value ?? ''],
  });
}

export function payload(members: MemberRow[]): { payload: { schema: string[]; data: MemberRow[] } } {
  return { payload: { schema: [...SCHEMA], data: members } };
}
