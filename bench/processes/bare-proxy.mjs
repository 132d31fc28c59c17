// The floor any Node proxy sets: node:http in, node:http out over a keep-alive pool (the same
// pool settings as the gateway's forwarder), bodies piped both ways. No authentication, no
// policy, no parsing. argv[2] = {"upstream": "http://127.0.0.1:PORT"}.
import http from 'node:http';

const upstream = new URL(JSON.parse(process.argv[2]).upstream);
const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64 });

const server = http.createServer((req, res) => {
  const headers = { ...req.headers, host: upstream.host };
  const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(out);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.send({ ready: true, url: `http://127.0.0.1:${server.address().port}`, pids: [process.pid] });
});
process.on('SIGTERM', () => process.exit(0));
