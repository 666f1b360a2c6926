import { Writable } from 'node:stream';
import { createLogger, traceFields } from './logger';

function capture() {
  const lines: any[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { lines, destination };
}

test('writes Cloud Logging JSON: severity and message', () => {
  const { lines, destination } = capture();
  const log = createLogger({ format: 'json', destination });
  log.warn({ sync: 'purchases' }, 'slow vendor');
  log.error('boom');
  expect(lines[0]).toMatchObject({ severity: 'WARNING', message: 'slow vendor', sync: 'purchases' });
  expect(lines[1]).toMatchObject({ severity: 'ERROR', message: 'boom' });
  expect(typeof lines[0].time).toBe('string');
});

test('never writes emails, phones, tokens or auth headers', () => {
  const { lines, destination } = capture();
  const log = createLogger({ format: 'json', destination });
  log.info(
    {
      traits: { email: 'jane@example.com', phone: '+4915112345678' },
      config: { access_token: 'EAAB-secret', api_secret: 'shh' },
      req: { headers: { authorization: 'Basic ZGV2Og==', cookie: 'tp_id=abc' } },
    },
    'event received',
  );
  const text = JSON.stringify(lines[0]);
  for (const secret of ['jane@example.com', '+4915112345678', 'EAAB-secret', 'shh', 'ZGV2Og==', 'tp_id=abc']) {
    expect(text).not.toContain(secret);
  }
  expect(lines[0].traits.email).toBe('[redacted]');
});

test('binds the Cloud Trace id from X-Cloud-Trace-Context', () => {
  expect(traceFields('105445aa7843bc8bf206b12000100000/1;o=1', 'my-project')).toEqual({
    'logging.googleapis.com/trace': 'projects/my-project/traces/105445aa7843bc8bf206b12000100000',
    'logging.googleapis.com/spanId': '1',
  });
  expect(traceFields('not-a-trace', 'p')).toEqual({});
  expect(traceFields(undefined, 'p')).toEqual({});
});
