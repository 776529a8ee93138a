// The Tokens screen and the viewer's console against a real webhookd: an admin makes a viewer
// token in the console (its value shown once, copied from the clipboard), the viewer signs in
// and sees the webhooks and their details without one button that would change anything, the
// admin revokes the viewer's token (refused at once), and revoking one's own token signs out.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  clickWidget, grantClipboard, isNetworkNoise, launchBrowser, openConsole, pasteInto, screenshot,
  signIn, startWebhookd, typeInto, waitForScreen, waitForUi,
} from './lib.mjs';

let server;
before(async () => { server = await startWebhookd(); });
after(async () => { await server?.stop(); });

const WRITE_WIDGETS = ['create', 'edit', 'send_test', 'recover', 'delete', 'reveal_secret',
  'rotate_secret', 'reveal_headers', 'resend', 'create_token'];

test('tokens: an admin makes and revokes a viewer token; the viewer reads without write buttons',
     async () => {
  const webhook = await server.api('POST', '/api/v1/webhooks', {
    url: 'https://hooks.example.com/inventory', events: ['device.enroll'], secret: 'generate',
    headers: { 'X-Api-Key': 'k-123' } });
  assert.equal(webhook.status, 201);
  const browser = await launchBrowser();
  await grantClipboard(browser.context);
  try {
    const { page, errors } = await openConsole(browser.context, `${server.url}#/tokens`);
    let state = await signIn(page, server.token);
    assert.equal(state.fields.role, 'admin');
    state = await waitForScreen(page, 'tokens', (s) => !s.fields.loading && s.fields.count === 1);
    assert.equal(state.lists.tokens[0].current, true);
    assert.equal(state.lists.tokens[0].role, 'admin');

    // A viewer token for the support desk (viewer is the default role).
    await typeInto(page, state, 'token_description', 'Support desk');
    state = await waitForUi(page, (s) => !!s.widgets.create_token);
    let frame = await clickWidget(page, state, 'role:viewer');
    frame = await clickWidget(page, state, 'create_token');
    state = await waitForUi(page, (s) => !!s.fields.created_token && s.fields.count === 2 && !s.fields.loading,
                            { afterFrame: frame });
    const viewerToken = state.fields.created_token;
    assert.match(viewerToken, /^mwh_/);
    const made = state.lists.tokens.find((t) => !t.current);
    assert.equal(made.role, 'viewer');
    assert.equal(made.description, 'Support desk');
    frame = await clickWidget(page, state, 'copy_token');
    await waitForUi(page, (s) => s.fields.notice === 'Token copied to the clipboard', { afterFrame: frame });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), viewerToken);
    const listed = await server.api('GET', '/api/v1/tokens');
    assert.ok(!JSON.stringify(listed.body).includes(viewerToken), 'the list never shows a value');
    await screenshot(page, 'tokens-created.png');

    // The viewer's console: everything readable, nothing offered that changes anything.
    const viewer = await launchBrowser();
    try {
      const { page: vpage, errors: verrors } = await openConsole(viewer.context, `${server.url}#/webhooks`);
      let v = await signIn(vpage, viewerToken);
      assert.equal(v.fields.role, 'viewer');
      v = await waitForScreen(vpage, 'webhooks', (s) => !s.fields.loading && s.fields.count === 1);
      assert.ok(!v.widgets.create, 'no Create Webhook for a viewer');
      await vpage.evaluate((id) => { location.hash = `#/webhooks/${id}`; }, webhook.body.id);
      v = await waitForScreen(vpage, 'details', (s) => !s.fields.loading && s.fields.webhook_id);
      assert.ok(v.widgets.read_only, 'says it is read only');
      for (const w of WRITE_WIDGETS) assert.ok(!v.widgets[w], `no ${w} for a viewer`);
      await screenshot(vpage, 'tokens-viewer-details.png');
      // A form's deep link opens the details instead.
      await vpage.evaluate((id) => { location.hash = `#/webhooks/${id}/edit`; }, webhook.body.id);
      v = await waitForScreen(vpage, 'details', (s) => !s.fields.loading && s.fields.webhook_id);
      await vpage.evaluate(() => { location.hash = '#/tokens'; });
      v = await waitForScreen(vpage, 'tokens', (s) => !s.fields.loading && s.fields.count === 2);
      assert.ok(!v.widgets.create_token);
      assert.ok(!Object.keys(v.widgets).some((k) => k.startsWith('revoke:')), 'no Revoke for a viewer');
      assert.deepEqual(verrors.filter((e) => !isNetworkNoise(e)), []);
    } finally {
      await viewer.close();
    }

    // The admin revokes it: refused at once.
    state = await waitForUi(page, (s) => !!s.widgets[`revoke:${made.id}`]);
    frame = await clickWidget(page, state, `revoke:${made.id}`);
    state = await waitForUi(page, (s) => s.fields.modal === 'revoke_token' && !!s.widgets.confirm_revoke,
                            { afterFrame: frame });
    frame = await clickWidget(page, state, 'confirm_revoke');
    state = await waitForUi(page, (s) => s.fields.count === 1 && !s.fields.loading, { afterFrame: frame });
    assert.equal((await server.api('GET', '/api/v1/webhooks', undefined, viewerToken)).status, 401);

    // Revoking the token of this session (another admin exists): a warning, then signed out.
    const second = await server.api('POST', '/api/v1/tokens', { role: 'admin', description: 'spare' });
    assert.equal(second.status, 201);
    frame = await clickWidget(page, state, 'refresh');
    state = await waitForUi(page, (s) => s.fields.count === 2 && !s.fields.loading, { afterFrame: frame });
    const self = state.lists.tokens.find((t) => t.current);
    frame = await clickWidget(page, state, `revoke:${self.id}`);
    state = await waitForUi(page, (s) => s.fields.modal === 'revoke_token' && !!s.widgets.confirm_revoke,
                            { afterFrame: frame });
    await screenshot(page, 'tokens-revoke-self.png');
    frame = await clickWidget(page, state, 'confirm_revoke');
    state = await waitForUi(page, (s) => !s.fields.signed_in, { afterFrame: frame });
    assert.equal((await server.api('GET', '/api/v1/webhooks')).status, 401, 'the session token is revoked');
    assert.equal((await server.api('GET', '/api/v1/webhooks', undefined, second.body.token)).status, 200);
    assert.deepEqual(errors.filter((e) => !isNetworkNoise(e)), []);
  } finally {
    await browser.close();
  }
});
