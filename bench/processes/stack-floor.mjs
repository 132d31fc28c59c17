// The floor of the design card's stack: express 5 and http-proxy-middleware 3 in front of the
// upstream, with the answer buffered, parsed and re-serialised as JSON (what any proxy that reads
// what it releases must do, and the gateway does), the same keep-alive pool settings as the
// gateway's forwarder, and nothing else: no authentication, policy, audit, metrics or logs.
// It shows how much of the gateway's CPU per request its required packages cost before any of
// its own work. argv[2] = {"upstream": "http://127.0.0.1:PORT"}.
import http from 'node:http';
import express from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';

const upstream = JSON.parse(process.argv[2]).upstream;
const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 });

const app = express();
app.disable('x-powered-by');
app.use(
  createProxyMiddleware({
    target: upstream,
    agent,
    selfHandleResponse: true,
    on: {
      proxyRes: (answer, _req, res) => {
        const chunks = [];
        answer.on('data', (c) => chunks.push(c));
        answer.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body = text;
          if (text.length > 0) {
            try {
              body = JSON.stringify(JSON.parse(text));
            } catch {
              body = text;
            }
          }
          const bytes = Buffer.from(body, 'utf8');
          res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'application/fhir+json', 'content-length': bytes.length });
          res.end(bytes);
        });
      },
      error: (_err, _req, res) => {
        if ('writeHead' in res && !res.headersSent) res.writeHead(502);
        res.end();
      },
    },
  }),
);
const server = http.createServer(app);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.send({ ready: true, url: `http://127.0.0.1:${server.address().port}`, pids: [process.pid] });
});
process.on('SIGTERM', () => process.exit(0));
