// Sends logs and a span through the Node.js OpenTelemetry SDK's own OTLP/HTTP exporters.
// Usage: node roundtrip.mjs BASE_URL json|proto RUN_ID TOKEN
// Prints one JSON line: the trace id of the span the logs were written in.
import { context, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPLogExporter as JsonLogs } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogs } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPTraceExporter as JsonTraces } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraces } from '@opentelemetry/exporter-trace-otlp-proto';

const [base, encoding, run, token] = process.argv.slice(2);
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const proto = encoding === 'proto';
const logExporter = new (proto ? ProtoLogs : JsonLogs)({ url: `${base}/v1/logs`, headers });
const traceExporter = new (proto ? ProtoTraces : JsonTraces)({ url: `${base}/v1/traces`, headers });
const resource = resourceFromAttributes(
  { 'service.name': `node-${encoding}`, 'process.pid': 4242, 'hlog.run': run },
  { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' },
);
const loggers = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] });
const tracers = new NodeTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(traceExporter)] });
tracers.register();

// every type an attribute can have
export const attributes = {
  s: 'text',
  i: 42,
  d: 2.5,
  yes: true,
  raw: new Uint8Array([0, 1, 254, 255]),
  tags: ['prod', 'eu'],
  numbers: [1, 2, 3],
  empty_list: [],
  empty_map: {},
  http: { request: { method: 'GET', size: 512 }, route: '/cart/{id}' },
  'http.route': '/flat/dotted',
};

const logger = loggers.getLogger('roundtrip', '1.2.3', {
  schemaUrl: 'https://opentelemetry.io/schemas/1.29.0',
  attributes: { 'scope.flag': true, 'scope.n': 7 },
});
const tracer = tracers.getTracer('roundtrip', '1.2.3');
const span = tracer.startSpan('checkout', {
  attributes: { s: 'text', i: 42, d: 2.5, yes: true, tags: ['prod', 'eu'], numbers: [1, 2, 3] },
  links: [{ context: { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 } }],
});
context.with(trace.setSpan(context.active(), span), () => {
  logger.emit({
    severityNumber: SeverityNumber.INFO2,
    severityText: 'Information',
    body: `typed ${run}`,
    eventName: 'cart.checkout',
    observedTimestamp: new Date('2026-01-02T03:04:05.678Z'),
    attributes,
  });
  logger.emit({
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    body: { order: { id: 7, items: ['a', 'b'] }, run, ok: true },
  });
});
span.end();
await loggers.forceFlush();
await tracers.forceFlush();
await loggers.shutdown();
await tracers.shutdown();
console.log(JSON.stringify({ trace_id: span.spanContext().traceId }));
