// End to end: a customer signs in through a real OpenID Connect provider's sign-in page
// (oidc-provider-mock: authorization code + PKCE, RS256 ID tokens, discovery, JWKS) and follows
// the live timeline with the provider's token. The provider runs as its own process.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  OnboardServer,
  WAIT_MS,
  freePort,
  launchBrowser,
  screenshot,
  sleep,
  submitDetails,
  waitForConnection,
  waitForTimeline,
} from './support.mjs';

const CLIENT_ID = 'onboard-web';
let provider;
let issuer;
let server;
let browser;

before(async () => {
  const bin = process.env.ONBOARD_OIDC_MOCK_BIN;
  assert.ok(bin, 'ONBOARD_OIDC_MOCK_BIN is not set: run scripts/oidc-mock.sh path (scripts/test-web.sh does)');
  const port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  provider = spawn(bin, ['--host', '127.0.0.1', '--port', String(port)], { stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${issuer}/.well-known/openid-configuration`)).ok) break;
    } catch {
      /* not listening yet */
    }
    assert.ok(Date.now() < deadline, 'the identity provider did not answer within 30 s');
    await sleep(200);
  }
  server = new OnboardServer({ ONBOARD_AUTH_ISSUER: issuer, ONBOARD_AUTH_AUDIENCE: CLIENT_ID });
  await server.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.cleanup();
  provider?.kill('SIGTERM');
});

describe('sign-in through the identity provider', () => {
  test('the provider signs the customer in and the timeline is live with its token', async () => {
    const config = await (await fetch(`${server.base}/config.json`)).json();
    assert.equal(config.oidc.issuer, issuer);
    assert.equal(config.oidc.clientId, CLIENT_ID);

    const context = await browser.newContext();
    // Two gaps of oidc-provider-mock 0.3.4, bridged here and nowhere else: it sends no CORS
    // headers (real providers do for discovery and the token endpoint), and its token endpoint
    // knows no public clients (PKCE without a secret; it accepts any secret for an unregistered
    // client). So the browser's cross-origin calls get CORS headers added, and the token request
    // a client authentication the page itself never has; the code, the tokens and their
    // signatures are the provider's.
    await context.route(`${issuer}/**`, async (route) => {
      const request = route.request();
      if (request.isNavigationRequest()) {
        return route.continue();
      }
      const cors = {
        'access-control-allow-origin': server.base,
        'access-control-allow-headers': '*',
        'access-control-allow-methods': 'GET, POST, OPTIONS',
      };
      if (route.request().method() === 'OPTIONS') {
        return route.fulfill({ status: 204, headers: cors });
      }
      const headers = { ...request.headers() };
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/oauth2/token') {
        headers.authorization = `Basic ${Buffer.from(`${CLIENT_ID}:mock-accepts-any`).toString('base64')}`;
      }
      const response = await route.fetch({ maxRedirects: 0, headers });
      return route.fulfill({ response, headers: { ...response.headers(), ...cors } });
    });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));


    const customerId = `oidc-${Date.now().toString(36)}`;
    await page.goto(`${server.base}/`);
    await page.getByTestId('provider-sign-in').click();
    // The provider's own page: who signs in.
    await page.waitForURL(`${issuer}/**`, { timeout: WAIT_MS });
    await page.locator('input[name=sub]').fill(customerId);
    await page.getByRole('button', { name: 'Authorize' }).click();

    await page.getByRole('heading', { name: 'Your onboarding' }).waitFor({ timeout: WAIT_MS });
    assert.equal((await page.getByTestId('customer-id').textContent()).trim(), customerId);
    await waitForConnection(page, 'Live');
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('onboard.session')).token);
    assert.equal(JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).alg, 'RS256');

    await submitDetails(page, { first: 'Olivia', last: 'Dunn' });
    const events = await waitForTimeline(page, 1);
    assert.equal(events[0].topic, 'user-info-submitted');
    await screenshot(page, 'oidc-signed-in');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
