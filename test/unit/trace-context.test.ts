import { describe, expect, test } from '@jest/globals';
import { parseTraceparent, traceContextOf, traceHeaders } from '../../src/observability/trace-context.js';

const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('W3C trace context', () => {
  test('a valid traceparent is continued: same trace id, the gateway its own span, the caller as parent', () => {
    const t = traceContextOf(CALLER, 'vendor=opaque');
    expect(t.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(t.parentSpanId).toBe('00f067aa0ba902b7');
    expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(t.spanId).not.toBe('00f067aa0ba902b7');
    expect(traceHeaders(t)).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${t.spanId}-01`, tracestate: 'vendor=opaque' });
  });

  test.each([
    ['absent', undefined],
    ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['upper case', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01'],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['version 00 with a tail', `${CALLER}-extra`],
    ['short', '00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01'],
    ['repeated header', [CALLER, CALLER]],
  ])('an invalid traceparent (%s) starts a new trace and drops tracestate', (_what, header) => {
    const t = traceContextOf(header as string | string[] | undefined, 'vendor=opaque');
    expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(t.traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(t.parentSpanId).toBeNull();
    expect(traceHeaders(t)).toEqual({ traceparent: `00-${t.traceId}-${t.spanId}-00` });
  });

  test('a future version is read by its version-00 prefix', () => {
    expect(parseTraceparent('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-more')).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', flags: '01' });
  });

  test('new traces differ', () => {
    expect(traceContextOf(undefined).traceId).not.toBe(traceContextOf(undefined).traceId);
  });

  test('ids stay well-formed and distinct across refills of the random pool (2,000 traces: 48 KB of ids)', () => {
    const traces = Array.from({ length: 2000 }, () => traceContextOf(undefined));
    for (const t of traces) {
      expect(t.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(t.spanId).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(new Set(traces.map((t) => t.traceId)).size).toBe(2000);
    expect(new Set(traces.map((t) => t.spanId)).size).toBe(2000);
  });
});
