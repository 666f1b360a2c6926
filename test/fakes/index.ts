/**
 * Local fakes of the vendor APIs tagpipe sends to, for contract tests, end-to-end runs and benchmarks. Each
 * `startFake<Vendor>(options)` returns `{ url, requests, close(), respondNext(), … }` plus vendor state.
 */
export {
  startFakeServer,
  type FakeServer,
  type FakeResponse,
  type RecordedRequest,
  type FakeServerOptions,
} from './server';
export { startFakeMeta, type FakeMeta, type FakeMetaOptions } from './meta';
export { startFakeWebhook, type FakeWebhook, type FakeWebhookOptions } from './webhook';
export { startFakeGa4, type FakeGa4, type FakeGa4Options, type CollectedEvent } from './ga4';
export { startFakeTiktok, type FakeTiktok, type FakeTiktokOptions } from './tiktok';
export { startFakeHubspot, type FakeHubspot, type FakeHubspotOptions } from './hubspot';
export { startFakeSalesforce, type FakeSalesforce, type FakeSalesforceOptions } from './salesforce';
export { startFakeDataManager, type FakeDataManager, type FakeDataManagerOptions } from './google-data-manager';
