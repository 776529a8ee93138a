// What a receiver's developer does in the console, against a real webhookd and a real HTTPS
// receiver: give a webhook custom headers and a rate limit (checked live by the shared
// validators), reveal the headers on purpose, read the payload a delivery sent and replay it with
// the copied curl command (the receiver's Standard Webhooks verifier accepts it), copy the
// verification code, open a delivery by deep link, and switch a webhook back on choosing to
// cancel the backlog that queued while it was off.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';

import { Webhook } from 'standardwebhooks';

import {
  clickWidget, grantClipboard, isNetworkNoise, launchBrowser, openConsole, pasteInto,
  startReceiver, startWebhookd, typeInto, waitForScreen, waitForUi,
} from './lib.mjs';

let receiver;
let server;

before(async () => {
  receiver = await startReceiver({ status: 200 });
  server = await startWebhookd({ caFile: receiver.certPath });
});
after(async () => {
  await server?.stop();
  await receiver?.close();
});

async function withPage(body) {
  const browser = await launchBrowser({});
  await grantClipboard(browser.context);
  try {
    const opened = await openConsole(browser.context, server.url);
    const state = await waitForScreen(opened.page, 'sign_in', (s) => !!s.widgets.token);
    await pasteInto(opened.page, state, 'token', server.token);
    await waitForUi(opened.page, (s, n) => s.fields.token_length === n, { arg: server.token.length });
    await opened.page.keyboard.press('Enter');
    await waitForUi(opened.page, (s) => s.fields.signed_in);
    await body(opened);
    assert.deepEqual(opened.errors.filter((e) => !isNetworkNoise(e)), []);
  } finally {
    await browser.close();
  }
}

async function createWebhook(extra = {}) {
  const r = await server.api('POST', '/api/v1/webhooks',
                             { url: receiver.url, events: ['device.enroll'], secret: 'generate', ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function ingest(name) {
  const { example } = (await server.api('GET', '/api/v1/event-types/device.enroll')).body;
  const r = await server.api('POST', '/api/v1/events', {
    type: 'device.enroll', data: { ...example, device: { ...example.device, name } } });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body;
}

// Goes to `hash` as a user following a link would.
async function go(page, hash) {
  await page.evaluate((h) => { window.location.hash = h; }, hash);
}

const readClipboard = (page) => page.evaluate(() => navigator.clipboard.readText());
// Empties the clipboard, presses `label`, and returns what the press copied.
async function copyWith(page, state, label) {
  await page.evaluate(() => navigator.clipboard.writeText(''));
  await clickWidget(page, state, label);
  await page.waitForFunction(async () => (await navigator.clipboard.readText()) !== '');
  return readClipboard(page);
}

test('custom headers and a rate limit from the form; masked, revealed, sent; payload and curl replay',
     async () => {
  const created = await createWebhook();
  await withPage(async ({ page }) => {
    await go(page, `/webhooks/${created.id}/edit`);
    let state = await waitForScreen(page, 'edit', (s) => !s.fields.loading && !!s.widgets.add_header);
    assert.deepEqual(state.fields.headers, []);

    // A header the shared validator refuses shows the API's message on its row.
    let frame = await clickWidget(page, state, 'add_header');
    state = await waitForUi(page, (s) => s.fields.headers.length === 1 && !!s.widgets['header_name:0'],
                            { afterFrame: frame });
    await typeInto(page, state, 'header_name:0', 'Webhook-Extra');
    state = await waitForUi(page, (s) => s.fields.headers[0].name === 'Webhook-Extra');
    assert.equal(state.fields.headers[0].error,
                 'Header names starting with webhook- are set by webhookd (id, timestamp, signature)');
    await typeInto(page, state, 'header_name:0', 'X-Gateway-Key');
    state = await waitForUi(page, (s) => s.fields.headers[0].name === 'X-Gateway-Key');
    assert.equal(state.fields.headers[0].error, null);
    await typeInto(page, state, 'header_value:0', 'gk-browser-31337');
    state = await waitForUi(page, (s) => s.fields.headers[0].value_length === 16);

    // A rate limit out of range carries the API's message; a good one clears it.
    await typeInto(page, state, 'rate_limit', '0');
    state = await waitForUi(page, (s) => s.fields.rate_limit === '0');
    assert.equal(state.fields.rate_limit_per_second_error,
                 'Must be a whole number of requests a second from 1 to 10000, or null for no limit');
    await typeInto(page, state, 'rate_limit', '25');
    state = await waitForUi(page, (s) => s.fields.rate_limit === '25' && s.fields.rate_limit_per_second_error === null);

    frame = await clickWidget(page, state, 'save');
    state = await waitForScreen(page, 'details', (s) => !s.fields.loading && s.fields.headers_shown,
                                { afterFrame: frame });
    assert.deepEqual(state.fields.headers_shown, { 'X-Gateway-Key': '********' });
    const stored = (await server.api('GET', `/api/v1/webhooks/${created.id}`)).body;
    assert.deepEqual(stored.headers, { 'X-Gateway-Key': '********' });
    assert.equal(stored.rate_limit_per_second, 25);

    // Reveal: the value, and an audit record of the look.
    frame = await clickWidget(page, state, 'reveal_headers');
    state = await waitForUi(page, (s) => s.fields.headers_shown?.['X-Gateway-Key'] === 'gk-browser-31337',
                            { afterFrame: frame });
    const audit = (await server.api('GET', '/api/v1/audit')).body;
    assert.equal(audit.data[0].action, 'webhook.headers_reveal');

    // A delivery carries the header; its payload is shown and copied as the exact bytes sent.
    const before = receiver.requests.length;
    const { deliveries: [deliveryId] } = await ingest('dev-headers');
    state = await waitForUi(page, (s, id) => (s.lists.deliveries ?? []).some(
      (d) => d.id === id && d.status === 'succeeded'), { arg: deliveryId, timeout: 20000 });
    const got = receiver.requests.slice(before).find((r) => r.body.includes('dev-headers'));
    assert.ok(got, 'the receiver got the delivery');
    assert.equal(got.headers['x-gateway-key'], 'gk-browser-31337');

    frame = await clickWidget(page, state, `delivery:${deliveryId}`);
    state = await waitForUi(page, (s) => !!s.fields.sent_body && !!s.widgets.copy_curl, { afterFrame: frame });
    assert.equal(state.fields.sent_body, got.body);
    frame = await clickWidget(page, state, 'copy_payload');
    await waitForUi(page, (s) => /^Body copied/.test(s.fields.notice ?? ''), { afterFrame: frame });
    assert.equal(await readClipboard(page), got.body);

    // Copy as curl, run it (trusting the receiver's certificate): the receiver gets the same
    // bytes, and the Standard Webhooks verifier accepts its signature with the webhook's secret.
    frame = await clickWidget(page, state, 'copy_curl');
    await waitForUi(page, (s) => /^curl command copied/.test(s.fields.notice ?? ''), { afterFrame: frame });
    const curl = await readClipboard(page);
    assert.match(curl, /^curl -X POST '/);
    assert.match(curl, /-H 'X-Gateway-Key: \*\*\*\*\*\*\*\*'/, 'the custom value stays masked');
    const replays = receiver.requests.length;
    // Not execFileSync: the receiver runs in this process and must answer meanwhile.
    await promisify(execFile)('bash', ['-c', `${curl} --cacert '${receiver.certPath}' --silent --show-error --fail`]);
    const replayed = receiver.requests[replays];
    assert.equal(replayed.body, got.body);
    assert.equal(replayed.headers['webhook-signature'], got.headers['webhook-signature']);
    const verified = new Webhook(created.secret).verify(replayed.body, replayed.headers);
    assert.equal(verified.data.device.name, 'dev-headers');

    // The receiver code is one copy away.
    frame = await clickWidget(page, state, 'verify_snippet_header');
    state = await waitForUi(page, (s) => s.fields.verify_snippet_open && !!s.widgets.copy_verify_snippet,
                            { afterFrame: frame });
    assert.equal(state.fields.verify_language, 'Node.js');
    frame = await clickWidget(page, state, 'copy_verify_snippet');
    await waitForUi(page, (s) => /^Receiver code copied/.test(s.fields.notice ?? ''), { afterFrame: frame });
    const node = await readClipboard(page);
    assert.match(node, /wh\.verify\(rawBody/);
    assert.match(node, /This webhook also sends: X-Gateway-Key/);

    // The Python code, run on the delivery the receiver got, accepts it, and refuses a changed
    // body; the C++ code compiles.
    frame = await clickWidget(page, state, 'verify_language:Python');
    state = await waitForUi(page, (s) => s.fields.verify_language === 'Python', { afterFrame: frame });
    const python = await copyWith(page, state, 'copy_verify_snippet');
    const check = async (body) => {
      const { stdout } = await promisify(execFile)('python3', ['-c', `${python}
import json, sys
print(verify(sys.argv[1].encode(), json.loads(sys.argv[2])))`, body, JSON.stringify(got.headers)],
                                                   { env: { ...process.env, MAMBO_WEBHOOK_SECRET: created.secret } });
      return stdout.trim();
    };
    assert.equal(await check(got.body), 'True');
    assert.equal(await check(got.body.replace('dev-headers', 'dev-forged')), 'False');
    frame = await clickWidget(page, state, 'verify_language:C++');
    state = await waitForUi(page, (s) => s.fields.verify_language === 'C++', { afterFrame: frame });
    const cpp = await copyWith(page, state, 'copy_verify_snippet');
    assert.match(cpp, /CRYPTO_memcmp/);
    const compile = promisify(execFile)('g++', ['-std=c++17', '-fsyntax-only', '-x', 'c++', '-']);
    compile.child.stdin.end(cpp);
    await compile;
  });
});

test('a delivery opens by deep link; switching a webhook back on asks about its backlog', async () => {
  // A receiver that fails (its certificate is not one webhookd trusts): deliveries wait for their
  // retries, the backlog a paused webhook keeps.
  const failing = await startReceiver({ status: 503 });
  try {
    const created = await createWebhook({ url: failing.url });
    await ingest('dev-q1');
    await ingest('dev-q2');
    const listed = await server.api('GET', `/api/v1/webhooks/${created.id}/deliveries`);
    const queued = listed.body.data.map((d) => d.id);
    assert.equal(queued.length, 2);
    await withPage(async ({ page }) => {
      // Deep link to one delivery: the details screen with it in the inspector, tried once.
      await go(page, `/webhooks/${created.id}/deliveries/${queued[0]}`);
      let state = await waitForScreen(page, 'details', (s, id) => s.fields.selected_delivery === id &&
                                      s.fields.delivery?.attempt_count >= 1, { arg: queued[0], timeout: 20000 });
      assert.equal(state.fields.delivery.id, queued[0]);
      assert.equal(state.fields.delivery.status, 'failed');

      // Off, then back on from the form: the console asks first; cancel the backlog.
      assert.equal((await server.api('PATCH', `/api/v1/webhooks/${created.id}`, { active: false })).status, 200);
      await go(page, `/webhooks/${created.id}/edit`);
      state = await waitForScreen(page, 'edit', (s) => !s.fields.loading && s.fields.active === false &&
                                  !!s.widgets.active);
      let frame = await clickWidget(page, state, 'active');
      state = await waitForUi(page, (s) => s.fields.active === true, { afterFrame: frame });
      frame = await clickWidget(page, state, 'save');
      state = await waitForUi(page, (s) => s.fields.backlog_prompt && !!s.widgets.backlog_cancel,
                              { afterFrame: frame });
      assert.equal((await server.api('GET', `/api/v1/webhooks/${created.id}`)).body.active, false,
                   'nothing is saved before the answer');
      frame = await clickWidget(page, state, 'backlog_cancel');
      state = await waitForScreen(page, 'details', (s) => !s.fields.loading && s.fields.active === true,
                                  { afterFrame: frame });
      assert.equal((await server.api('GET', `/api/v1/webhooks/${created.id}`)).body.active, true);
      for (const id of queued) {
        assert.equal((await server.api('GET', `/api/v1/deliveries/${id}`)).body.status, 'cancelled');
      }
      const audit = (await server.api('GET', '/api/v1/audit')).body.data.map((a) => a.action);
      assert.ok(audit.indexOf('webhook.cancel_pending') > audit.indexOf('webhook.update'),
                `cancelled before the update (${audit.join(', ')})`);
    });
  } finally {
    await failing.close();
  }
});
