// One streamed download from its own process, counted and dropped: bytes, lines, seconds; stopped
// early after maxSeconds (complete: false) when that is given.
// argv[2] = {"url", "headers", "maxSeconds"}; IPC: {phase: 'done', result} or {phase: 'error', error}.
import http from 'node:http';

const o = JSON.parse(process.argv[2]);
const started = process.hrtime.bigint();
http
  .get(o.url, { headers: o.headers }, (res) => {
    let bytes = 0;
    let lines = 0;
    res.on('data', (chunk) => {
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
    });
    const done = (complete) => process.send({ phase: 'done', result: { status: res.statusCode, bytes, lines, complete, seconds: Number(process.hrtime.bigint() - started) / 1e9 } }, () => process.exit(0));
    if (o.maxSeconds) setTimeout(() => done(false), o.maxSeconds * 1000).unref();
    res.on('end', () => done(true));
    res.on('error', (err) => process.send({ phase: 'error', error: String(err) }));
  })
  .on('error', (err) => process.send({ phase: 'error', error: String(err) }));
