// What was sent, as the API shows it (GET /api/v1/deliveries/{id} "request"), checked by the
// verifier receivers use: the standardwebhooks npm package accepts the recorded body with the
// recorded headers and the webhook's secret, and the body is the very bytes the receiver got.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { startReceiver, startWebhookd } from './lib.mjs';

// Asks until `check` returns something truthy; fails after `ms`.
async function eventually(check, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

test('a delivery\'s recorded request verifies with the standardwebhooks package',
  { timeout: 60000 }, async () => {
    const receiver = await startReceiver();
    const server = await startWebhookd({ caFile: receiver.certPath });
    try {
      const created = await server.api('POST', '/api/v1/webhooks',
        { url: receiver.url, events: ['device.update'], secret: 'generate' });
      assert.equal(created.status, 201);
      const { example } = (await server.api('GET', '/api/v1/event-types/device.update')).body;
      // Non-ASCII text, so that "the same bytes" covers UTF-8 too.
      const data = { ...example, device: { ...example.device, name: 'Tablet de Ana — café' } };
      const ingest = await server.api('POST', '/api/v1/events', { type: 'device.update', data });
      assert.equal(ingest.status, 202);
      const id = ingest.body.deliveries[0];
      const delivery = await eventually(async () => {
        const r = await server.api('GET', `/api/v1/deliveries/${id}`);
        return r.body.status === 'succeeded' ? r.body : null;
      });
      const { body, headers } = delivery.request;
      assert.equal(body, receiver.requests[0].body);
      const sent = Object.fromEntries(headers);
      const payload = new Webhook(created.body.secret).verify(body, sent);
      assert.equal(payload.data.device.name, 'Tablet de Ana — café');
      assert.equal(payload.type, 'device.update');
      // A body changed by one byte does not verify.
      assert.throws(() => new Webhook(created.body.secret).verify(body.replace('café', 'cafe'), sent));
    } finally {
      await server.stop();
      await receiver.close();
    }
  });
