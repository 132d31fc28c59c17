// Load from its own process: autocannon with a fixed number of connections, a warm-up run whose
// results are dropped, then the measured run. Latencies are taken from every response with
// sub-millisecond resolution (autocannon's own histogram counts whole milliseconds).
// With overallRate (req/s over all connections), both runs send at that fixed rate (autocannon's
// own rate limit; latencies are not corrected for coordinated omission: see the achieved rate).
// argv[2] = {"url", "method", "headers", "body", "connections", "warmupSeconds", "durationSeconds", "overallRate"}
// IPC: sends {phase: 'measure'} when the measured run starts, then {phase: 'done', result}.
import autocannon from 'autocannon';

const o = JSON.parse(process.argv[2]);
const run = (seconds, onResponse) =>
  new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: o.url, method: o.method, headers: o.headers, body: o.body, connections: o.connections, pipelining: 1, duration: seconds, timeout: 30, ...(o.overallRate ? { overallRate: o.overallRate } : {}) },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
    if (onResponse) instance.on('response', onResponse);
  });

if (o.warmupSeconds > 0) await run(o.warmupSeconds);
const samples = [];
let ok = 0;
let other = 0;
process.send({ phase: 'measure' });
const started = process.hrtime.bigint();
const result = await run(o.durationSeconds, (_client, status, _bytes, responseTime) => {
  if (status >= 200 && status < 300) {
    ok++;
    samples.push(Math.round(responseTime * 1000) / 1000);
  } else other++;
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.send({ phase: 'done', result: { requests: ok, failures: other + result.errors, seconds, samples } });
