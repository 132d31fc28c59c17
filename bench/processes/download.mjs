// One streamed download from its own process, counted and dropped: bytes, lines, seconds.
// argv[2] = {"url", "headers"}; IPC: {phase: 'done', result} or {phase: 'error', error}.
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
    res.on('end', () => process.send({ phase: 'done', result: { status: res.statusCode, bytes, lines, seconds: Number(process.hrtime.bigint() - started) / 1e9 } }));
    res.on('error', (err) => process.send({ phase: 'error', error: String(err) }));
  })
  .on('error', (err) => process.send({ phase: 'error', error: String(err) }));
