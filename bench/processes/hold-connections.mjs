// Opens N keep-alive connections, sends one GET on each, and keeps them open (idle) until told to
// close: how much memory a connection costs the server. argv[2] = {"url", "headers", "connections"}.
import http from 'node:http';

const o = JSON.parse(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections, keepAliveMsecs: 60_000 });
const once = () =>
  new Promise((resolve, reject) => {
    http.get(o.url, { agent, headers: o.headers }, (res) => res.resume().on('end', () => resolve(res.statusCode))).on('error', reject);
  });
const statuses = await Promise.all(Array.from({ length: o.connections }, once));
process.send({ phase: 'open', ok: statuses.filter((s) => s === 200).length, sockets: Object.values(agent.freeSockets).flat().length });
process.on('message', () => {
  agent.destroy();
  process.exit(0);
});
