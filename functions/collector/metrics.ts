/**
 * Collector metrics in Prometheus text format (`GET /metrics`). One registry per collector instance so tests
 * and the local stack can run several side by side.
 */
import { Counter, Histogram, Registry } from 'prom-client';

export class CollectorMetrics {
  readonly registry = new Registry();
  readonly received = new Counter({
    name: 'tagpipe_events_received_total',
    help: 'Events received, by protocol.',
    labelNames: ['protocol'] as const,
    registers: [this.registry],
  });
  readonly published = new Counter({
    name: 'tagpipe_events_published_total',
    help: 'Events durably published, by topic (events, events-invalid).',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  readonly invalid = new Counter({
    name: 'tagpipe_events_invalid_total',
    help: 'Events quarantined to events-invalid, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly rejectedRequests = new Counter({
    name: 'tagpipe_requests_rejected_total',
    help: 'Requests answered 4xx/5xx before any event was accepted, by code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly publishLatency = new Histogram({
    name: 'tagpipe_publish_latency_seconds',
    help: 'Time from publish call to durable confirmation.',
    labelNames: ['topic'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** Events durably published so far, both topics (read synchronously by the local stack's drain). */
  publishedTotal = 0;

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
