// The console against a real webhookd (port 0, temporary data dir, admin token from its CLI) and a
// real HTTPS receiver (node:https, certificate made now with openssl, trusted by webhookd through
// --ca-file). The user's whole journey, a refused and a revoked token, deep links with back and
// forward, and a server that goes away while the page is open. Every wait is on the app's state.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';

import { Webhook as Verifier } from 'standardwebhooks';

import {
  clickWidget, grantClipboard, isNetworkNoise, launchBrowser, openConsole, pasteInto, screenshot,
  startReceiver,
  startWebhookd, typeInto, uiState, waitForScreen, waitForUi, webhookdPath,
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

async function withBrowser(body, options = {}) {
  const browser = await launchBrowser(options);
  await grantClipboard(browser.context);
  try {
    return await body(browser);
  } finally {
    await browser.close();
  }
}

// Pastes the token into the sign-in screen and presses Enter; returns the state once the answer
// to that submit arrived (signed in, or an error shown).
async function signIn(page, token = server.token) {
  const state = await waitForScreen(page, 'sign_in', (s) => !!s.widgets.token);
  await pasteInto(page, state, 'token', token);
  await waitForUi(page, (s, n) => s.fields.token_length === n, { arg: token.length });
  const submits = state.fields.submits;
  await page.keyboard.press('Enter');
  return waitForUi(page, (s, n) => s.fields.signed_in || (s.fields.submits > n && !s.fields.checking),
                   { arg: submits });
}

const appErrors = (errors) => errors.filter((e) => !isNetworkNoise(e));
const T0 = Date.now();
const trace = (what) => { if (process.env.MAMBO_TRACE) console.error(`${((Date.now() - T0) / 1000).toFixed(1)}s ${what}`); };

test('journey: sign in, create with a generated secret, deliver, inspect, resend, edit, deactivate, delete',
     async () => {
  await withBrowser(async (browser) => {
    const { page, errors } = await openConsole(browser.context, server.url);

    // Sign in.
    let state = await waitForScreen(page, 'sign_in', (s) => !!s.widgets.token);
    await screenshot(page, 'console-sign-in.png'); trace('console-sign-in.png');
    state = await signIn(page);
    assert.equal(state.fields.signed_in, true);
    state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading && s.fields.count === 0);
    assert.equal(state.fields.route, '/webhooks');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mambo.console.token')), server.token);
    assert.equal(await page.evaluate(() => localStorage.length), 0);
    await screenshot(page, 'console-webhooks-empty.png'); trace('console-webhooks-empty.png');

    // Create Webhook: a bad URL shows the message the API's 422 carries for it.
    let frame = await clickWidget(page, state, 'create');
    state = await waitForScreen(page, 'create', (s) => !!s.widgets.url, { afterFrame: frame });
    const badUrl = `http://127.0.0.1:${receiver.port}/hooks`;
    await typeInto(page, state, 'url', badUrl);
    state = await waitForUi(page, (s, u) => s.fields.url === u && s.fields.url_error, { arg: badUrl });
    const apiAnswer = await server.api('POST', '/api/v1/webhooks', { url: badUrl, events: ['device.enroll'] });
    assert.equal(apiAnswer.status, 422);
    const apiUrlError = apiAnswer.body.error.fields.find((f) => f.field === 'url').message;
    assert.equal(state.fields.url_error, apiUrlError);
    assert.equal(state.fields.url_valid, false);
    await screenshot(page, 'console-create-bad-url.png'); trace('console-create-bad-url.png');

    // Fix it where it is wrong: Home, past "http", type "s".
    await page.keyboard.press('Home');
    for (let i = 0; i < 4; ++i) await page.keyboard.press('ArrowRight');
    await page.keyboard.type('s');
    state = await waitForUi(page, (s, u) => s.fields.url === u, { arg: receiver.url });
    assert.equal(state.fields.url_error, null);
    assert.equal(state.fields.url_valid, true);

    // Pick events by category: Device Management = its Enrollment and Device groups.
    frame = await clickWidget(page, state, 'category:Device Management');
    state = await waitForUi(page, (s) => s.fields.events.length > 0, { afterFrame: frame });
    const deviceEvents = ['device.delete', 'device.enroll', 'device.update', 'enrollment_token.create',
      'enrollment_token.delete', 'enrollment_token.update'];
    assert.deepEqual([...state.fields.events].sort(), deviceEvents);
    const pickedEvents = [...state.fields.events].sort();

    // Generate a secret (the default, chosen explicitly) and save.
    frame = await clickWidget(page, state, 'secret_mode:generate');
    state = await waitForUi(page, (s) => s.fields.secret_mode === 'generate', { afterFrame: frame });
    await screenshot(page, 'console-create-form.png'); trace('console-create-form.png');
    frame = await clickWidget(page, state, 'save');
    state = await waitForScreen(page, 'details', (s) => !s.fields.loading && s.fields.secret_shown,
                                { afterFrame: frame });
    const webhookId = state.fields.webhook_id;
    assert.match(webhookId, /^wh_/);
    assert.equal(state.fields.route, `/webhooks/${webhookId}`);
    assert.equal(state.fields.secret_once, true);
    assert.match(state.fields.secret_shown, /^whsec_/);
    assert.deepEqual([...state.fields.events].sort(), pickedEvents);
    const secret = state.fields.secret_shown;

    // Copy the secret to the system clipboard with the button.
    frame = await clickWidget(page, state, 'copy_secret');
    await waitForUi(page, (s) => s.fields.notice === 'Secret copied to the clipboard', { afterFrame: frame });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    await screenshot(page, 'console-details-secret-once.png'); trace('console-details-secret-once.png');

    // An event through the ingest API reaches the receiver; the history shows it with 200.
    // Its data is the type's example (ingest checks data against the type's schema), named.
    const { example } = (await server.api('GET', '/api/v1/event-types/device.enroll')).body;
    const ingest = await server.api('POST', '/api/v1/events', {
      type: 'device.enroll', data: { ...example, device: { ...example.device, name: 'dev-1' } } });
    assert.equal(ingest.status, 202);
    assert.equal(ingest.body.deliveries.length, 1);
    const deliveryId = ingest.body.deliveries[0];
    state = await waitForUi(page, (s, id) => (s.lists.deliveries ?? []).some(
      (d) => d.id === id && d.status === 'succeeded' && d.http_status === 200), { arg: deliveryId, timeout: 20000 });
    assert.equal(receiver.requests.length >= 1, true);
    assert.ok(receiver.requests.some((r) => r.body.includes('dev-1')));
    await screenshot(page, 'console-details-history.png'); trace('console-details-history.png');

    // Open the attempt: headers sent, status, duration, response excerpt.
    frame = await clickWidget(page, state, `delivery:${deliveryId}`);
    state = await waitForUi(page, (s) => s.fields.attempt && s.fields.attempt.number === 1, { afterFrame: frame });
    assert.equal(state.fields.selected_delivery, deliveryId);
    assert.equal(state.fields.attempt.http_status, 200);
    assert.ok(state.fields.attempt.duration_ms >= 0);
    const sent = state.fields.attempt.request_headers.map((h) => h.toLowerCase());
    for (const h of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      assert.ok(sent.includes(h), `request header ${h} shown (have ${sent.join(', ')})`);
    }
    assert.equal(state.fields.attempt.response_excerpt, '{"ok":true}');
    await screenshot(page, 'console-attempt-inspector.png'); trace('console-attempt-inspector.png');

    // Resend: a second attempt, also 200.
    frame = await clickWidget(page, state, 'resend');
    state = await waitForUi(page, (s) => s.fields.delivery && s.fields.delivery.attempt_count >= 2 &&
                                         s.fields.delivery.status === 'succeeded',
                            { afterFrame: frame, timeout: 20000 });
    assert.ok(state.lists.attempts.length >= 2);
    assert.ok(state.lists.attempts.every((a) => a.http_status === 200));

    // Edit the events: drop Device Enroll.
    frame = await clickWidget(page, state, 'edit');
    state = await waitForScreen(page, 'edit', (s) => !s.fields.loading && !!s.widgets['event:device.enroll'],
                                { afterFrame: frame });
    assert.deepEqual([...state.fields.events].sort(), pickedEvents);
    assert.equal(state.fields.secret_mode, 'keep');
    frame = await clickWidget(page, state, 'event:device.enroll');
    state = await waitForUi(page, (s) => !s.fields.events.includes('device.enroll'), { afterFrame: frame });
    await screenshot(page, 'console-edit-form.png'); trace('console-edit-form.png');
    frame = await clickWidget(page, state, 'save');
    state = await waitForScreen(page, 'details', (s) => !s.fields.loading && s.fields.events &&
                                !s.fields.events.includes('device.enroll'), { afterFrame: frame });
    let stored = await server.api('GET', `/api/v1/webhooks/${webhookId}`);
    assert.deepEqual([...stored.body.events].sort(), pickedEvents.filter((e) => e !== 'device.enroll'));
    assert.equal(stored.body.has_secret, true);

    // Generate on edit is a rotation: the new secret is shown once saved, and the old one keeps
    // signing for the grace period (a PATCH would have cut it off at once). A test event is
    // signed with both: a receiver holding either accepts it.
    frame = await clickWidget(page, state, 'edit');
    state = await waitForScreen(page, 'edit', (s) => !s.fields.loading && !!s.widgets['secret_mode:generate'],
                                { afterFrame: frame });
    frame = await clickWidget(page, state, 'secret_mode:generate');
    state = await waitForUi(page, (s) => s.fields.secret_mode === 'generate', { afterFrame: frame });
    frame = await clickWidget(page, state, 'save');
    state = await waitForScreen(page, 'details', (s, old) => !s.fields.loading && s.fields.secret_once &&
                                !!s.fields.secret_shown && s.fields.secret_shown !== old,
                                { afterFrame: frame, arg: secret });
    const rotated = state.fields.secret_shown;
    assert.match(rotated, /^whsec_/);
    assert.match(state.fields.previous_secrets, /^the old secret signs too until /);
    assert.equal((await server.api('GET', `/api/v1/webhooks/${webhookId}/secret`)).body.secret, rotated);
    const seen = receiver.requests.length;
    frame = await clickWidget(page, state, 'send_test');
    state = await waitForUi(page, (s) => (s.lists.deliveries ?? []).some(
      (d) => d.event_type === 'webhook.test' && d.status === 'succeeded'), { afterFrame: frame, timeout: 20000 });
    const signed = receiver.requests.slice(seen).find((r) => r.body.includes('webhook.test'));
    assert.ok(signed, 'the test event reached the receiver');
    assert.equal(signed.headers['webhook-signature'].split(' ').length, 2);
    for (const key of [secret, rotated]) {
      assert.doesNotThrow(() => new Verifier(key).verify(signed.body, signed.headers), key);
    }
    frame = await clickWidget(page, state, 'hide_secret');
    state = await waitForUi(page, (s) => !s.fields.secret_shown, { afterFrame: frame });

    // Deactivate.
    frame = await clickWidget(page, state, 'edit');
    state = await waitForScreen(page, 'edit', (s) => !s.fields.loading && !!s.widgets.active, { afterFrame: frame });
    assert.equal(state.fields.active, true);
    frame = await clickWidget(page, state, 'active');
    state = await waitForUi(page, (s) => s.fields.active === false, { afterFrame: frame });
    frame = await clickWidget(page, state, 'save');
    state = await waitForScreen(page, 'details', (s) => !s.fields.loading && s.fields.active === false,
                                { afterFrame: frame });
    stored = await server.api('GET', `/api/v1/webhooks/${webhookId}`);
    assert.equal(stored.body.active, false);

    // The list shows it inactive, with its last delivery.
    frame = await clickWidget(page, state, 'back');
    state = await waitForScreen(page, 'webhooks', (s, id) => (s.lists.webhooks ?? []).some(
      (w) => w.id === id && w.last_delivery), { afterFrame: frame, arg: webhookId });
    const row = state.lists.webhooks.find((w) => w.id === webhookId);
    assert.equal(row.active, false);
    assert.equal(row.status, 'Inactive');
    assert.equal(row.last_delivery.status, 'succeeded');
    assert.equal(row.last_delivery.http_status, 200);
    assert.equal(row.success_rate_24h, 100);
    await screenshot(page, 'console-webhooks-list.png'); trace('console-webhooks-list.png');

    // Delete with confirmation.
    frame = await clickWidget(page, state, `row:${webhookId}`);
    state = await waitForScreen(page, 'details', (s) => !s.fields.loading && !!s.widgets.delete, { afterFrame: frame });
    frame = await clickWidget(page, state, 'delete');
    state = await waitForUi(page, (s) => s.fields.modal === 'delete' && !!s.widgets.confirm_delete, { afterFrame: frame });
    await screenshot(page, 'console-delete-confirm.png'); trace('console-delete-confirm.png');
    frame = await clickWidget(page, state, 'confirm_delete');
    state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading && s.fields.count === 0, { afterFrame: frame });
    assert.equal((await server.api('GET', `/api/v1/webhooks/${webhookId}`)).status, 404);

    // The audit log tells the story.
    frame = await clickWidget(page, state, 'nav_audit');
    state = await waitForScreen(page, 'audit', (s) => !s.fields.loading && s.fields.count > 0, { afterFrame: frame });
    const actions = state.lists.audit.map((a) => a.action);
    for (const a of ['webhook.create', 'webhook.update', 'delivery.resend', 'webhook.delete']) {
      assert.ok(actions.includes(a), `audit has ${a} (has ${actions.join(', ')})`);
    }
    await screenshot(page, 'console-audit.png'); trace('console-audit.png');

    // Browser back returns to the list.
    frame = (await uiState(page)).frame;
    await page.goBack();
    await waitForScreen(page, 'webhooks', null, { afterFrame: frame });

    assert.deepEqual(appErrors(errors), []);
  });
});

test('401: a wrong token is refused with the reason; a revoked token ends the session', async () => {
  await withBrowser(async (browser) => {
    const { page, errors } = await openConsole(browser.context, server.url);
    let state = await signIn(page, 'mwh_not-a-real-token');
    assert.equal(state.fields.signed_in, false);
    assert.equal(state.screen, 'sign_in');
    assert.match(state.fields.error, /Unknown or revoked token/);
    assert.match(state.fields.error, /401/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mambo.console.token')), null);
    await screenshot(page, 'console-sign-in-401.png'); trace('console-sign-in-401.png');

    // A second token, signed in, then revoked on the server while the page is open.
    const token = execFileSync(webhookdPath, ['token', 'create', '--team', 'acme', '--role', 'admin',
      '--data-dir', server.dataDir], { encoding: 'utf8' }).trim();
    state = await signIn(page, token);
    assert.equal(state.fields.signed_in, true);
    state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading);
    const list = execFileSync(webhookdPath, ['token', 'list', '--data-dir', server.dataDir], { encoding: 'utf8' });
    const ids = [...list.matchAll(/tok_[A-Za-z0-9_-]+/g)].map((m) => m[0]);
    execFileSync(webhookdPath, ['token', 'revoke', ids.at(-1), '--data-dir', server.dataDir]);  // newest: ours
    assert.equal((await server.api('GET', '/api/v1/webhooks?limit=1', undefined, token)).status, 401);
    assert.equal((await server.api('GET', '/api/v1/webhooks?limit=1')).status, 200);
    const frame = await clickWidget(page, state, 'refresh');
    state = await waitForScreen(page, 'sign_in', (s) => !!s.fields.error, { afterFrame: frame });
    assert.equal(state.fields.signed_in, false);
    assert.match(state.fields.error, /session ended/i);
    assert.match(state.fields.error, /Unknown or revoked token/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('mambo.console.token')), null);
    assert.deepEqual(appErrors(errors), []);
  });
});

test('deep link opens after sign-in; secret add/reveal, test event, filter, recover; back and forward', async () => {
  const created = await server.api('POST', '/api/v1/webhooks', {
    url: receiver.url, events: ['team.update'], description: 'deep link target',
  });
  assert.equal(created.status, 201);
  const id = created.body.id;
  try {
    await withBrowser(async (browser) => {
      const { page, errors } = await openConsole(browser.context, `${server.url}#/webhooks/${id}`);
      await signIn(page);
      let state = await waitForScreen(page, 'details', (s) => !s.fields.loading);
      assert.equal(state.fields.webhook_id, id);
      assert.equal(state.fields.description, 'deep link target');
      assert.equal(state.fields.has_secret, false);

      // Details actions: add a secret (shown once), hide it, reveal it on request.
      let frame = await clickWidget(page, state, 'rotate_secret');
      state = await waitForUi(page, (s) => s.fields.modal === 'rotate' && !!s.widgets.confirm_rotate,
                              { afterFrame: frame });
      frame = await clickWidget(page, state, 'confirm_rotate');
      state = await waitForUi(page, (s) => s.fields.secret_once && !!s.fields.secret_shown, { afterFrame: frame });
      const secret = state.fields.secret_shown;
      assert.match(secret, /^whsec_/);
      assert.equal((await server.api('GET', `/api/v1/webhooks/${id}/secret`)).body.secret, secret);
      frame = await clickWidget(page, state, 'hide_secret');
      state = await waitForUi(page, (s) => !s.fields.secret_shown && !!s.widgets.reveal_secret, { afterFrame: frame });
      frame = await clickWidget(page, state, 'reveal_secret');
      state = await waitForUi(page, (s) => s.fields.secret_shown, { afterFrame: frame });
      assert.equal(state.fields.secret_shown, secret);
      assert.equal(state.fields.secret_once, false);

      // Send a test event: it appears in the history and reaches the receiver.
      frame = await clickWidget(page, state, 'send_test');
      state = await waitForUi(page, (s) => (s.lists.deliveries ?? []).some(
        (d) => d.event_type === 'webhook.test' && d.status === 'succeeded' && d.http_status === 200),
      { afterFrame: frame, timeout: 20000 });
      // Filter by status: failed shows none.
      frame = await clickWidget(page, state, 'status_filter');
      state = await waitForUi(page, (s) => !!s.widgets['status_option:failed'], { afterFrame: frame });
      frame = await clickWidget(page, state, 'status_option:failed');
      state = await waitForUi(page, (s) => s.fields.status_filter === 'failed' && !s.fields.history_loading &&
                                           s.fields.deliveries_loaded === 0, { afterFrame: frame });
      // Recover since...: a dialog with an RFC 3339 time, then a confirmation.
      frame = await clickWidget(page, state, 'recover');
      state = await waitForUi(page, (s) => s.fields.modal === 'recover' && !!s.widgets.confirm_recover,
                              { afterFrame: frame });
      frame = await clickWidget(page, state, 'confirm_recover');
      state = await waitForUi(page, (s) => /^Recovering \d+ deliveries$/.test(s.fields.notice ?? ''),
                              { afterFrame: frame });
      await screenshot(page, 'console-details-actions.png');

      frame = await clickWidget(page, state, 'edit');
      state = await waitForScreen(page, 'edit', (s) => !s.fields.loading, { afterFrame: frame });
      assert.equal(state.fields.route, `/webhooks/${id}/edit`);
      // Escape cancels the form (back to the details).
      frame = (await uiState(page)).frame;
      await page.keyboard.press('Escape');
      state = await waitForScreen(page, 'details', null, { afterFrame: frame });

      frame = (await uiState(page)).frame;
      await page.goBack();
      state = await waitForScreen(page, 'edit', null, { afterFrame: frame });
      frame = (await uiState(page)).frame;
      await page.goBack();
      state = await waitForScreen(page, 'details', null, { afterFrame: frame });
      frame = (await uiState(page)).frame;
      await page.goForward();
      state = await waitForScreen(page, 'edit', (s) => !s.fields.loading, { afterFrame: frame });
      assert.equal(state.fields.url, receiver.url);

      // An unknown link lands on the list with a message.
      frame = (await uiState(page)).frame;
      await page.evaluate(() => { location.hash = '#/nowhere'; });
      state = await waitForScreen(page, 'webhooks', (s) => !!s.fields.app_error, { afterFrame: frame });
      assert.match(state.fields.app_error, /no page/);
      assert.deepEqual(appErrors(errors), []);
    });
  } finally {
    await server.api('DELETE', `/api/v1/webhooks/${id}`);
  }
});

test('server goes away while the page is open: readable message, then recovery', async () => {
  const own = await startWebhookd({});
  const port = new URL(own.url).port;
  let restarted;
  try {
    await withBrowser(async (browser) => {
      const { page, errors } = await openConsole(browser.context, own.url);
      await signIn(page, own.token);
      let state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading);
      await own.kill();

      let frame = await clickWidget(page, state, 'create');
      state = await waitForScreen(page, 'create', (s) => !!s.widgets.url, { afterFrame: frame });
      await typeInto(page, state, 'url', 'https://example.com/hooks');
      state = await waitForUi(page, (s) => s.fields.url === 'https://example.com/hooks');
      frame = await clickWidget(page, state, 'category:Team Management');
      state = await waitForUi(page, (s) => s.fields.events.length === 2, { afterFrame: frame });
      frame = await clickWidget(page, state, 'save');
      state = await waitForUi(page, (s) => s.fields.reachable === false && !s.fields.saving && s.fields.error,
                              { afterFrame: frame });
      assert.equal(state.screen, 'create');
      assert.match(state.fields.error, /Server unreachable/);
      assert.ok(state.widgets.offline_banner);
      assert.equal(state.fields.url, 'https://example.com/hooks');  // nothing the user typed is lost
      await screenshot(page, 'console-server-unreachable.png'); trace('console-server-unreachable.png');

      // The server comes back on the same port: saving again works.
      restarted = await startWebhookd({ dataDir: own.dataDir, port });
      frame = await clickWidget(page, state, 'save');
      state = await waitForScreen(page, 'details', (s) => !s.fields.loading && s.fields.reachable,
                                  { afterFrame: frame });
      assert.equal(state.fields.url, 'https://example.com/hooks');
      assert.deepEqual(appErrors(errors), []);
    });
  } finally {
    await restarted?.stop();
    await own.stop();
  }
});
