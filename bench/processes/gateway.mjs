// The gateway of the benchmark: the built gateway (dist/) with the given configuration, on one or
// more processes (node:cluster shares the port), optionally deciding through an OPA server over
// HTTP instead of its in-process WebAssembly engine (the sidecar variant, same design otherwise).
// argv[2] = {"config": ConfigInput, "workers": n, "opaUrl": string | null, "env": {...}}
import cluster from 'node:cluster';
// The gateway's code: the build (dist/) by default; FHIRGW_BENCH_CODE points elsewhere (src/ under tsx, for the smoke test).
const code = process.env.FHIRGW_BENCH_CODE ?? new URL('../../dist/', import.meta.url).href;
const { buildConfig } = await import(new URL('config/load.js', code).href);
const { createOpaHttpEngine } = await import(new URL('devkit/opa-http-engine.js', code).href);
const { readBundleFile } = await import(new URL('policy/bundle.js', code).href);
const { startGateway } = await import(new URL('server.js', code).href);

const options = JSON.parse(process.argv[2]);
const config = buildConfig(options.config, { env: {} });

if (cluster.isPrimary && options.workers > 1) {
  const pids = [];
  for (let i = 0; i < options.workers; i++) {
    const worker = cluster.fork();
    await new Promise((resolve, reject) => {
      worker.once('message', (m) => (m.ready ? resolve() : reject(new Error(m.error))));
      worker.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
    pids.push(worker.process.pid);
  }
  process.send({ ready: true, url: `http://127.0.0.1:${config.listen.port}`, pids });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 500).unref();
  });
} else {
  try {
    let policies;
    if (options.opaUrl) {
      const { revision } = await readBundleFile(config.policy.bundle);
      const engine = createOpaHttpEngine({ url: options.opaUrl, revision });
      policies = { current: () => engine, close: () => engine.close() };
    }
    const gateway = await startGateway(config, { env: options.env ?? {}, ...(policies ? { policies } : {}) });
    await gateway.ready;
    process.send({ ready: true, url: gateway.url, pids: [process.pid] });
    process.on('SIGTERM', () => gateway.close().then(() => process.exit(0)));
  } catch (err) {
    process.send({ ready: false, error: String(err?.stack ?? err) });
    process.exit(1);
  }
}
