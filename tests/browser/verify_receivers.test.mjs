// The receivers of docs/verify, run as an integrator would run them, against live deliveries
// from a real webhookd: each verifies a signed event (and says so), and refuses a request whose
// body was changed after signing. Node (standardwebhooks) and C++ (OpenSSL) always; Python
// (standard library) too, since python3 is on every machine the test command runs on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { buildDir, makeCertificate, repoRoot, startWebhookd } from './lib.mjs';

const receivers = {
  node: ['node', [join(repoRoot, 'docs/verify/node/receiver.mjs')]],
  cpp: [join(buildDir, 'tests/backend/verify_receiver_cpp'), []],
  python: ['python3', [join(repoRoot, 'docs/verify/python/receiver.py')]],
};

// Starts a receiver and resolves with { port, lines, waitFor(regex), stop() }.
function startReceiverProcess([cmd, args], env) {
  const proc = spawn(cmd, args, { env: { ...process.env, ...env, PORT: '0' },
                                  cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  proc.stdout.on('data', (d) => {
    out += d;
    const parts = out.split('\n');
    out = parts.pop();
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.re.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.ok(line); }
      }
    }
  });
  const waitFor = (re, ms = 20000) => {
    const found = lines.find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    return new Promise((ok, fail) => {
      const w = { re, ok };
      waiters.push(w);
      setTimeout(() => fail(new Error(`no line ${re} within ${ms} ms; got ${lines}; ${err}`)), ms)
        .unref();
    });
  };
  return waitFor(/^listening on \d+/).then((line) => ({
    port: Number(line.split(' ').pop()), lines, waitFor,
    stop: () => new Promise((ok) => { proc.once('exit', ok); proc.kill('SIGTERM'); }),
  }));
}

// POSTs `body` with `headers` to the receiver; resolves with the status.
function post(port, ca, headers, body) {
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/hooks', ca, headers },
                        (res) => { res.resume(); res.on('end', () => ok(res.statusCode)); });
    req.on('error', fail);
    req.end(body);
  });
}

for (const [language, command] of Object.entries(receivers)) {
  test(`the ${language} receiver of docs/verify verifies a live delivery and refuses a forgery`,
    { timeout: 60000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mambo-verify-'));
      const { cert, key } = makeCertificate(dir);
      const server = await startWebhookd({ caFile: cert });
      let receiver;
      try {
        const created = await server.api('POST', '/api/v1/webhooks',
          { url: 'https://127.0.0.1:1/placeholder', events: ['device.enroll'],
            secret: 'generate' });
        assert.equal(created.status, 201);
        receiver = await startReceiverProcess(command, {
          WEBHOOK_SECRET: created.body.secret, TLS_CERT: cert, TLS_KEY: key });
        const url = `https://127.0.0.1:${receiver.port}/hooks`;
        assert.equal((await server.api('PATCH', `/api/v1/webhooks/${created.body.id}`, { url }))
          .status, 200);
        const { example } = (await server.api('GET', '/api/v1/event-types/device.enroll')).body;
        const ingest = await server.api('POST', '/api/v1/events',
          { id: `evt_${language}_1`, type: 'device.enroll', data: example });
        assert.equal(ingest.status, 202);
        await receiver.waitFor(new RegExp(`^verified evt_${language}_1`));

        // What was sent, replayed with one byte changed: refused.
        let sent;
        for (;;) {
          const d = await server.api('GET', `/api/v1/deliveries/${ingest.body.deliveries[0]}`);
          if (d.body.status === 'succeeded') { sent = d.body.request; break; }
          await new Promise((ok) => setTimeout(ok, 50));
        }
        const headers = Object.fromEntries(sent.headers.filter(([n]) => n.startsWith('webhook-')));
        headers['content-type'] = 'application/json';
        const ca = execFileSync('cat', [cert]);
        assert.equal(await post(receiver.port, ca, headers, sent.body.replace('Samsung', 'Samsunh')),
                     401);
        assert.equal(receiver.lines.filter((l) => l.startsWith('verified')).length, 1);
      } finally {
        await receiver?.stop();
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
}
