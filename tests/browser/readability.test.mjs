// What a console user can read and trust (issue 15, first part), against a real webhookd and real
// HTTPS receivers in headless Chromium at 1280x800: a 200-character URL and a webhook disabled by
// a 410 leave every header action on the canvas; delivery states are said in words (retrying
// with the next time and the try, paused while the webhook is off); a slow API shows a loading
// state with the rows kept, and a failed refresh keeps the rows with the error and Retry; a form
// with unsaved changes asks before a tab or Back throws them away.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  clickWidget, grantClipboard, isNetworkNoise, launchBrowser, openConsole, screenshot, signIn,
  startReceiver, startWebhookd, typeInto, waitForScreen, waitForUi, widget,
} from './lib.mjs';

const W = 1280;
const H = 800;
let receiver;
let server;

before(async () => {
  receiver = await startReceiver({
    status: (req) => (req.url.endsWith('/gone') ? 410 : req.url.endsWith('/down') ? 500 : 200),
  });
  server = await startWebhookd({ caFile: receiver.certPath });
});
after(async () => {
  await server?.stop();
  await receiver?.close();
});

async function createWebhook(url) {
  const r = await server.api('POST', '/api/v1/webhooks', { url, events: ['device.enroll'] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function ingest() {
  const { example } = (await server.api('GET', '/api/v1/event-types/device.enroll')).body;
  const r = await server.api('POST', '/api/v1/events', { type: 'device.enroll', data: example });
  assert.equal(r.status, 202);
  return r.body.deliveries;
}

async function until(check, what = String(check)) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setImmediate(ok));
  }
}

function assertOnCanvas(state, labels, what) {
  for (const label of labels) {
    const r = widget(state, label);
    assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= W && r.y + r.h <= H,
              `${what}: ${label} at ${JSON.stringify(r)} is off the ${W}x${H} canvas`);
  }
}

async function withConsole(body) {
  const browser = await launchBrowser({ width: W, height: H });
  await grantClipboard(browser.context);
  try {
    const { page, errors } = await openConsole(browser.context, server.url);
    await signIn(page, server.token);
    await body(page);
    assert.deepEqual(errors.filter((e) => !isNetworkNoise(e)), []);
  } finally {
    await browser.close();
  }
}

test('a long URL and a disabled webhook keep every action on the canvas', async () => {
  const long = `${receiver.url}/${'x'.repeat(200 - receiver.url.length - 1)}`;
  assert.equal(long.length, 200);
  const longId = await createWebhook(long);
  const goneId = await createWebhook(`${receiver.url}/gone`);
  await ingest();
  await until(async () => !(await server.api('GET', `/api/v1/webhooks/${goneId}`)).body.active);

  await withConsole(async (page) => {
    let state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading && s.fields.count === 2);
    assertOnCanvas(state, [`row:${longId}`, `row:${goneId}`, 'create', 'refresh'], 'list');

    let frame = await clickWidget(page, state, `row:${longId}`);
    state = await waitForScreen(page, 'details', (s, id) => s.fields.webhook_id === id && !s.fields.loading &&
      !!s.widgets.delete, { afterFrame: frame, arg: longId });
    assert.equal(state.fields.url, long);
    assert.equal(state.fields.title_elided, true, 'the URL is cut to fit');
    assertOnCanvas(state, ['back', 'title', 'edit', 'send_test', 'recover', 'delete'], 'long URL');
    await screenshot(page, 'readability-long-url.png');

    frame = await clickWidget(page, state, 'back');
    state = await waitForScreen(page, 'webhooks', (s, id) => !s.fields.loading && !!s.widgets[`row:${id}`] &&
      s.fields.disabled_count === 1, { afterFrame: frame, arg: goneId });
    frame = await clickWidget(page, state, `row:${goneId}`);
    state = await waitForScreen(page, 'details', (s, id) => s.fields.webhook_id === id && !s.fields.loading &&
      !!s.widgets.enable_webhook, { afterFrame: frame, arg: goneId });
    assertOnCanvas(state, ['back', 'edit', 'send_test', 'recover', 'delete', 'enable_webhook',
                           'recover_disabled', 'disabled_banner'], '410-disabled');
    await screenshot(page, 'readability-disabled.png');
  });
});

test('delivery states in words: retrying with the next try, paused while inactive', async () => {
  const id = await createWebhook(`${receiver.url}/down`);
  await ingest();  // to every webhook of the type: find this one's delivery
  const delivery = await until(async () => {
    const d = (await server.api('GET', `/api/v1/webhooks/${id}/deliveries`)).body.data[0];
    return d?.status === 'failed' ? d.id : null;
  });

  await withConsole(async (page) => {
    let state = await waitForScreen(page, 'webhooks', (s, w) => (s.lists.webhooks ?? []).some(
      (r) => r.id === w && r.last_delivery), { arg: id });
    const row = state.lists.webhooks.find((r) => r.id === id);
    assert.match(row.last_delivery.label, /^Retrying in \d+ s \(try 2 of 10\) after 500$/);

    let frame = await clickWidget(page, state, `row:${id}`);
    state = await waitForScreen(page, 'details', (s) => s.fields.history_loaded &&
      (s.lists.deliveries ?? []).length === 1, { afterFrame: frame });
    assert.match(state.lists.deliveries[0].label, /^Retrying (in \d+ s|now) \(try 2 of 10\) after 500$/);

    // Switched off: what waits is paused, not "next try 1 min ago".
    assert.equal((await server.api('PATCH', `/api/v1/webhooks/${id}`, { active: false })).status, 200);
    frame = await clickWidget(page, state, 'back');
    state = await waitForScreen(page, 'webhooks', (s, w) => !s.fields.loading && (s.lists.webhooks ?? []).some(
      (r) => r.id === w && !r.active), { afterFrame: frame, arg: id });
    assert.equal(state.lists.webhooks.find((r) => r.id === id).last_delivery.label,
                 'Paused: webhook inactive');
    frame = await clickWidget(page, state, `row:${id}`);
    state = await waitForScreen(page, 'details', (s) => s.fields.active === false && s.fields.history_loaded &&
      (s.lists.deliveries ?? []).length === 1, { afterFrame: frame });
    assert.equal(state.lists.deliveries[0].label, 'Paused: webhook inactive');
    frame = await clickWidget(page, state, `delivery:${delivery}`);
    state = await waitForUi(page, (s) => typeof s.fields.selected_label === 'string', { afterFrame: frame });
    assert.equal(state.fields.selected_label, 'Paused: webhook inactive');
  });
});

test('a slow API shows loading with the rows kept; a failed refresh keeps them with Retry', async () => {
  await withConsole(async (page) => {
    let state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading && s.fields.count > 0);
    const count = state.fields.count;

    // Held until the test has seen the loading state.
    let release;
    const held = new Promise((ok) => { release = ok; });
    await page.route('**/api/v1/webhooks?limit=100', async (route) => {
      await held;
      await route.continue();
    });
    let frame = await clickWidget(page, state, 'refresh');
    state = await waitForUi(page, (s) => s.fields.loading && !!s.widgets.loading, { afterFrame: frame });
    assert.equal(state.fields.count, count, 'the rows stay while it loads');
    release();
    state = await waitForUi(page, (s) => !s.fields.loading && s.fields.error === null);
    await page.unroute('**/api/v1/webhooks?limit=100');

    // The server goes away: the refresh fails, the rows stay, with the error and Retry.
    const port = new URL(server.url).port;
    const { dataDir } = server;
    await server.kill();
    frame = await clickWidget(page, state, 'refresh');
    state = await waitForUi(page, (s) => !s.fields.loading && s.fields.error !== null && !!s.widgets.retry_load,
                            { afterFrame: frame });
    assert.equal(state.fields.count, count);
    await screenshot(page, 'readability-refresh-failed.png');

    // Back: Retry loads them again.
    server = await startWebhookd({ caFile: receiver.certPath, dataDir, port: Number(port) });
    frame = await clickWidget(page, state, 'retry_load');
    state = await waitForUi(page, (s) => !s.fields.loading && s.fields.error === null && s.fields.count === count,
                            { afterFrame: frame });
  });
});

test('a form with unsaved changes asks before a tab or Back throws them away', async () => {
  await withConsole(async (page) => {
    let state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading && !!s.widgets.create);
    // Untouched, it leaves without asking.
    let frame = await clickWidget(page, state, 'create');
    state = await waitForScreen(page, 'create', (s) => s.fields.dirty === false && !!s.widgets.cancel,
                                { afterFrame: frame });
    frame = await clickWidget(page, state, 'cancel');
    state = await waitForScreen(page, 'webhooks', (s) => !!s.widgets.create, { afterFrame: frame });

    // Changed: a tab asks; Keep editing keeps the draft.
    frame = await clickWidget(page, state, 'create');
    state = await waitForScreen(page, 'create', (s) => !!s.widgets.url, { afterFrame: frame });
    const url = 'https://hooks.example.com/draft';
    await typeInto(page, state, 'url', url);
    state = await waitForUi(page, (s, u) => s.fields.url === u && s.fields.dirty === true, { arg: url });
    frame = await clickWidget(page, state, 'nav_events');
    state = await waitForUi(page, (s) => s.fields.modal === 'discard' && !!s.widgets.keep_editing,
                            { afterFrame: frame });
    assert.equal(state.screen, 'create');
    assert.equal(state.fields.route, '/webhooks/new', 'the address stays the form\'s');
    await screenshot(page, 'readability-discard-prompt.png');
    frame = await clickWidget(page, state, 'keep_editing');
    state = await waitForUi(page, (s, u) => s.screen === 'create' && s.fields.modal === undefined &&
      s.fields.url === u, { afterFrame: frame, arg: url });

    // Back asks too; Discard goes where Back meant.
    frame = (await waitForUi(page, () => true)).frame;
    await page.goBack();
    state = await waitForUi(page, (s) => s.fields.modal === 'discard' && !!s.widgets.discard_changes,
                            { afterFrame: frame });
    frame = await clickWidget(page, state, 'discard_changes');
    state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading, { afterFrame: frame });
  });
});
