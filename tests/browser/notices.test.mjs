// A webhook webhookd disabled, as the console shows it, against a real webhookd and a real HTTPS
// receiver: an endpoint that answers 410 Gone is switched off by the system; a subscriber of the
// operational notices receives webhook.disabled; the list names the webhook in a banner that opens
// its page; that page's banner offers recovery (prefilled with the failing spell) and Enable, whose
// prompt asks what becomes of the backlog and switches it on. Every wait is on the app's state.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  clickWidget, grantClipboard, isNetworkNoise, launchBrowser, openConsole, pasteInto, screenshot,
  signIn, startReceiver, startWebhookd, waitForScreen, waitForUi,
} from './lib.mjs';

let receiver;
let server;
let gone = true;  // the endpoint /gone answers 410 while this holds

before(async () => {
  receiver = await startReceiver({
    status: (req) => (req.url.endsWith('/gone') && gone ? 410 : 200),
  });
  // Notices are looked for every 100 ms instead of every 10 s.
  server = await startWebhookd({ caFile: receiver.certPath, args: ['--notice-check-ms', '100'] });
});
after(async () => {
  await server?.stop();
  await receiver?.close();
});

async function until(check) {
  for (;;) {
    const value = await check();
    if (value) return value;
    await new Promise((ok) => setImmediate(ok));
  }
}

test('notices: a 410 disables a webhook; banners on the list and its page; enable again', async () => {
  const make = async (path, events) => {
    const r = await server.api('POST', '/api/v1/webhooks',
                               { url: receiver.url + path, events });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  const goneId = await make('/gone', ['device.enroll']);
  await make('/ops', ['webhook.disabled', 'webhook.recovered']);
  const { example } = (await server.api('GET', '/api/v1/event-types/device.enroll')).body;
  assert.equal((await server.api('POST', '/api/v1/events',
                                 { type: 'device.enroll', data: example })).status, 202);
  const disabled = await until(async () => {
    const w = (await server.api('GET', `/api/v1/webhooks/${goneId}`)).body;
    return !w.active && w.disabled_reason ? w : null;
  });
  assert.match(disabled.disabled_reason, /410/);
  // The subscriber hears of it, the webhook itself does not.
  const notice = await until(() => receiver.requests.find(
    (r) => r.url.endsWith('/ops') && r.body.includes('"webhook.disabled"')));
  assert.equal(JSON.parse(notice.body).data.webhook.id, goneId);
  assert.ok(!receiver.requests.some((r) => r.url.endsWith('/gone') && r.body.includes('webhook.disabled')));

  const browser = await launchBrowser();
  await grantClipboard(browser.context);
  try {
    const { page, errors } = await openConsole(browser.context, server.url);
    await signIn(page, server.token);

    // The list: a banner naming it, above the table.
    let state = await waitForScreen(page, 'webhooks', (s, id) => !s.fields.loading &&
      !!s.widgets[`disabled_banner:${id}`], { arg: goneId });
    assert.equal(state.fields.disabled_count, 1);
    await screenshot(page, 'notice-banner-list.png');

    // Its page: the banner with recovery and Enable.
    let frame = await clickWidget(page, state, `disabled_open:${goneId}`);
    state = await waitForScreen(page, 'details', (s, id) => s.fields.webhook_id === id && !s.fields.loading &&
      !!s.widgets.disabled_banner && !!s.widgets.enable_webhook, { afterFrame: frame, arg: goneId });
    assert.equal(state.fields.active, false);
    await screenshot(page, 'notice-banner-details.png');

    // Recover: prefilled with the failing spell (5 days before it was disabled).
    frame = await clickWidget(page, state, 'recover_disabled');
    state = await waitForUi(page, (s) => s.fields.modal === 'recover' && !!s.widgets.cancel_recover,
                            { afterFrame: frame });
    assert.equal(state.fields.recover_since,
                 new Date(Date.parse(disabled.updated_at) - 5 * 86400e3).toISOString());
    frame = await clickWidget(page, state, 'cancel_recover');
    state = await waitForUi(page, (s) => s.fields.modal === undefined && !!s.widgets.enable_webhook,
                            { afterFrame: frame });

    // Enable: the prompt asks about the backlog; "deliver" switches it on as it is.
    gone = false;
    frame = await clickWidget(page, state, 'enable_webhook');
    state = await waitForUi(page, (s) => s.fields.modal === 'enable' && !!s.widgets.enable_deliver,
                            { afterFrame: frame });
    await screenshot(page, 'notice-enable-prompt.png');
    frame = await clickWidget(page, state, 'enable_deliver');
    state = await waitForUi(page, (s) => s.fields.active === true && !s.widgets.disabled_banner,
                            { afterFrame: frame });
    const stored = (await server.api('GET', `/api/v1/webhooks/${goneId}`)).body;
    assert.equal(stored.active, true);
    assert.equal(stored.disabled_reason, null);

    // Back on the list, no banner.
    frame = await clickWidget(page, state, 'back');
    state = await waitForScreen(page, 'webhooks', (s) => !s.fields.loading && s.fields.disabled_count === 0,
                                { afterFrame: frame });
    assert.equal(state.widgets[`disabled_banner:${goneId}`], undefined);

    // The team's event log lists the notice, and its type filter offers the notice types.
    frame = await clickWidget(page, state, 'nav_events');
    state = await waitForUi(page, (s) => s.screen === 'events' && s.fields.loaded && !s.fields.loading,
                            { afterFrame: frame });
    frame = await clickWidget(page, state, 'type_filter');
    let last = null;
    state = await waitForUi(page, (s) => {  // the popup's option where it stays (two frames alike)
      const r = s.widgets['type_option:webhook.disabled'];
      const steady = !!r && !!last && ['x', 'y', 'w', 'h'].every((k) => r[k] === last[k]);
      last = r;
      return steady;
    }, { afterFrame: frame });
    frame = await clickWidget(page, state, 'type_option:webhook.disabled');
    state = await waitForUi(page, (s) => s.screen === 'events' && s.fields.loaded && !s.fields.loading &&
      s.fields.type_filter === 'webhook.disabled', { afterFrame: frame });
    assert.ok(state.lists.events.length >= 1);
    assert.ok(state.lists.events.every((e) => e.type === 'webhook.disabled'));
    assert.deepEqual(errors.filter((e) => !isNetworkNoise(e)), []);
  } finally {
    await browser.close();
  }
});
