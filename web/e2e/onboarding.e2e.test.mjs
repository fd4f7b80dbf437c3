// End to end: Debian's Chromium (playwright-core) against the real `onboard up` binary.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FIVE_TOPICS,
  PNG_BYTES,
  WAIT_MS,
  acceptPolicy,
  browserSuite,
  chooseCoverage,
  screenshot,
  signIn,
  sleep,
  submitDetails,
  timeline,
  uniqueId,
  uploadDocument,
  verifyIdentity,
  waitForConnection,
  waitForTimeline,
} from './support.mjs';

const { server, newPage } = browserSuite();

function sequences(events) {
  return events.map((e) => e.sequence);
}

describe('the customer page', () => {
  test('a new customer completes the wizard and sees the five events appear live, in order', async () => {
    const page = await newPage();
    const person = { first: 'Alice', last: 'Walker' };
    await signIn(page, server.base, uniqueId('alice'));
    await screenshot(page, '01-signed-in');
    // A marker that a reload would wipe: every event must arrive without one.
    await page.evaluate(() => (window.__noReload = true));

    await submitDetails(page, person);
    let events = await waitForTimeline(page, 1);
    assert.equal(events[0].topic, 'user-info-submitted');
    await uploadDocument(page, person);
    events = await waitForTimeline(page, 2);
    await screenshot(page, '02-after-document');
    await verifyIdentity(page);
    await waitForTimeline(page, 3);
    await chooseCoverage(page);
    await waitForTimeline(page, 4);
    await screenshot(page, '03-recommendation');
    await acceptPolicy(page);
    events = await waitForTimeline(page, 5);

    assert.deepEqual(events.map((e) => e.topic), FIVE_TOPICS);
    assert.deepEqual(sequences(events), [1, 2, 3, 4, 5]);
    for (const event of events) {
      assert.match(event.time, /^\d\d:\d\d:\d\d$/, 'each event shows its time');
      assert.ok(event.sentence.length > 10, `a sentence for ${event.topic}`);
    }
    assert.match(events[3].sentence, /We recommend .+ a month/);
    assert.equal(await page.evaluate(() => window.__noReload), true, 'the events arrived without a reload');
    await sleep(500);
    assert.equal((await timeline(page)).length, 5, 'no event is shown twice');
    await screenshot(page, '04-completed');
    await page.context().close();
  });

  test('the server names invalid fields and the page shows each next to its field', async () => {
    const page = await newPage();
    const person = { first: 'Frank', last: 'Miller' };
    await signIn(page, server.base, uniqueId('frank'));
    await submitDetails(page, person, { Email: 'not-an-email', 'Phone number': '12345' });

    const email = page.getByLabel('Email', { exact: true });
    await page.locator('#email-error').waitFor({ timeout: WAIT_MS });
    await page.locator('#phoneNumber-error').waitFor({ timeout: WAIT_MS });
    assert.equal(await email.getAttribute('aria-invalid'), 'true');
    assert.match(await email.getAttribute('aria-describedby'), /email-error/);
    assert.equal(await page.getByLabel('First name').getAttribute('aria-invalid'), null);
    // The failed step is an event too (workflow-errors), and it arrives live.
    const events = await waitForTimeline(page, 1);
    assert.equal(events[0].topic, 'workflow-errors');
    await screenshot(page, '05-field-errors');

    await submitDetails(page, person);
    await page.getByRole('heading', { name: /Step 2 of 5/ }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual((await waitForTimeline(page, 2)).map((e) => e.topic), ['workflow-errors', 'user-info-submitted']);
    await page.context().close();
  });

  test('reloading mid-flow keeps the timeline and the wizard step, with nothing twice', async () => {
    const page = await newPage();
    const person = { first: 'Bob', last: 'Stone' };
    await signIn(page, server.base, uniqueId('bob'));
    await submitDetails(page, person);
    await waitForTimeline(page, 1);
    await uploadDocument(page, person);
    const before = await waitForTimeline(page, 2);

    await page.reload();
    await page.getByRole('heading', { name: /Step 3 of 5/ }).waitFor({ timeout: WAIT_MS });
    await waitForConnection(page, 'Live');
    const afterReload = await waitForTimeline(page, 2);
    assert.deepEqual(afterReload, before);
    await screenshot(page, '06-after-reload');

    await verifyIdentity(page);
    await chooseCoverage(page);
    await acceptPolicy(page);
    const events = await waitForTimeline(page, 5);
    await sleep(500);
    assert.deepEqual(sequences(await timeline(page)), [1, 2, 3, 4, 5]);
    assert.deepEqual(events.map((e) => e.topic), FIVE_TOPICS);
    await page.context().close();
  });

  test('a server restart shows reconnecting, then live again, and no event is missed', async () => {
    const page = await newPage();
    // Every server frame the page receives, and a switch that keeps the page from connecting.
    const frames = [];
    let blocked = false;
    await page.routeWebSocket(/\/ws/, (ws) => {
      if (blocked) {
        ws.close({ code: 1013, reason: 'held off by the test' });
        return;
      }
      const upstream = ws.connectToServer();
      upstream.onMessage((message) => {
        frames.push(JSON.parse(message));
        ws.send(message);
      });
    });
    const person = { first: 'Carol', last: 'King' };
    const customerId = uniqueId('carol');
    await signIn(page, server.base, customerId);
    await submitDetails(page, person);
    await waitForTimeline(page, 1);

    await server.stop();
    await waitForConnection(page, 'Reconnecting');
    await screenshot(page, '07-reconnecting');

    // Back up; a step happens elsewhere while this page is held off, so its event can only
    // reach the page through `resume`.
    blocked = true;
    await server.start();
    const token = await server.devToken(customerId);
    const stored = await (
      await fetch(`${server.base}/v1/customers/${customerId}/events`, { headers: { authorization: `Bearer ${token}` } })
    ).json();
    const applicationId = stored.events[0].applicationId;
    const form = new FormData();
    form.set('documentType', 'passport');
    form.set('documentNumber', 'X7654321');
    form.set('fullName', `${person.first} ${person.last}`);
    form.set('expiryDate', '2035-01-01');
    form.set('file', new Blob([PNG_BYTES], { type: 'image/png' }), 'passport.png');
    const upload = await fetch(`${server.base}/v1/applications/${applicationId}/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    assert.equal(upload.status, 201);
    const heldOff = frames.length;
    blocked = false;

    await waitForConnection(page, 'Live');
    const events = await waitForTimeline(page, 2);
    assert.deepEqual(events.map((e) => e.topic), FIVE_TOPICS.slice(0, 2));
    assert.deepEqual(sequences(events), [1, 2]);
    // It came as a replay: after the new welcome, the event frame, then `resumed` counting it.
    const since = frames.slice(heldOff).map((f) => (f.type === 'event' ? `event ${f.event.type}` : f.type));
    const replayed = frames.slice(heldOff).find((f) => f.type === 'resumed');
    assert.ok(replayed && replayed.replayed >= 1, `frames after reconnecting: ${since.join(', ')}`);
    const at = since.indexOf('event documents-processed');
    assert.ok(at >= 0 && at < since.indexOf('resumed'), `frames after reconnecting: ${since.join(', ')}`);
    await screenshot(page, '08-live-again');

    await verifyIdentity(page);
    await chooseCoverage(page);
    await acceptPolicy(page);
    await waitForTimeline(page, 5);
    await sleep(500);
    assert.deepEqual(sequences(await timeline(page)), [1, 2, 3, 4, 5]);
    await page.context().close();
  });

  test("a second customer's page shows none of the first customer's events", async () => {
    const first = await newPage();
    const second = await newPage();
    const dave = { first: 'Dave', last: 'Brook' };
    const erin = { first: 'Erin', last: 'Moss' };
    await signIn(first, server.base, uniqueId('dave'));
    await signIn(second, server.base, uniqueId('erin'));

    await submitDetails(first, dave);
    await waitForTimeline(first, 1);
    await uploadDocument(first, dave);
    await waitForTimeline(first, 2);
    await sleep(1000);
    assert.equal((await timeline(second)).length, 0, "Erin's timeline stays empty");

    await submitDetails(second, erin);
    const events = await waitForTimeline(second, 1);
    await sleep(500);
    assert.deepEqual((await timeline(second)).map((e) => e.topic), ['user-info-submitted']);
    assert.equal(events[0].sequence, 1);
    assert.equal((await timeline(first)).length, 2, "Dave's timeline did not get Erin's event");
    await first.context().close();
    await second.context().close();
  });

  test('the keyboard alone signs in and submits the first step', async () => {
    const page = await newPage();
    await page.goto(`${server.base}/`);
    // `goto` returns at the load event; the app may still be rendering its form, and
    // Tab presses before that land on an empty page (seen in CI). A user sees the form first.
    await page.getByLabel('Customer ID').waitFor({ timeout: WAIT_MS });
    let focused = '';
    for (let presses = 0; presses < 8 && focused !== 'customerId'; presses++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement?.id ?? '');
    }
    assert.equal(focused, 'customerId', 'Tab reaches the Customer ID field');
    await page.keyboard.type(uniqueId('kim'));
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Your onboarding' }).waitFor({ timeout: WAIT_MS });

    await page.getByLabel('Email', { exact: true }).focus();
    // A date field takes its parts as typed digits, and Tab walks through its parts first.
    const typed = [['email', 'kim@example.com'], ['firstName', 'Kim'], ['lastName', 'Lee'], ['dateOfBirth', '01011990'], ['phoneNumber', '+14155550123']];
    for (const [id, value] of typed) {
      assert.equal(await page.evaluate(() => document.activeElement?.id), id);
      await page.keyboard.type(value);
      for (let presses = 0; presses < 4 && (await page.evaluate(() => document.activeElement?.id)) === id; presses++) {
        await page.keyboard.press('Tab');
      }
    }
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Continue');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /Step 2 of 5/ }).waitFor({ timeout: WAIT_MS });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'step-title', 'focus moves to the new step');
    await waitForTimeline(page, 1);
    await page.context().close();
  });

  test('at phone width (375 px) the page fits the screen', async () => {
    const page = await newPage({ width: 375, height: 812 });
    const person = { first: 'Pia', last: 'Small' };
    await signIn(page, server.base, uniqueId('pia'));
    await submitDetails(page, person);
    await waitForTimeline(page, 1);
    await page.getByRole('heading', { name: /Step 2 of 5/ }).waitFor({ timeout: WAIT_MS });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling (overflow ${overflow}px)`);
    await screenshot(page, '09-phone-375');
    await page.context().close();
  });
});

describe('the operator page', () => {
  test('shows recent events, connections, lag per partition, dead letters and a rate chart', async () => {
    const watcher = await newPage();
    const customerId = uniqueId('olga');
    await signIn(watcher, server.base, customerId);

    const page = await newPage();
    await page.goto(`${server.base}/operator`);
    await page.getByLabel('Management token').fill(server.managementToken());
    await page.getByRole('button', { name: 'Show overview' }).click();
    await page.locator('[data-testid=recent-events] tbody tr').first().waitFor({ timeout: WAIT_MS });

    await submitDetails(watcher, { first: 'Olga', last: 'North' });
    await waitForTimeline(watcher, 1);
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('[data-testid=recent-events] td')].some((td) => td.textContent === id),
      customerId,
      { timeout: WAIT_MS },
    );
    await page.waitForFunction(
      (id) => [...document.querySelectorAll('[data-testid=connections] td')].some((td) => td.textContent === id),
      customerId,
      { timeout: WAIT_MS },
    );
    const lagRows = await page.locator('[data-testid=consumer-lag] tbody tr').count();
    assert.equal(lagRows, 18, 'six topics × three partitions');
    // One row per topic's `.dlq`, each with the count the server reports (zero included).
    const overview = await (
      await fetch(`${server.base}/v1/ops/overview`, { headers: { authorization: `Bearer ${server.managementToken()}` } })
    ).json();
    assert.equal(overview.deadLetters.length, 6, 'six dead-letter topics');
    const shown = await page
      .locator('[data-testid=dead-letters] tbody tr')
      .evaluateAll((rows) => rows.map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent.trim())));
    assert.deepEqual(
      shown,
      overview.deadLetters.map((d) => [d.topic, String(d.count)]),
    );
    await page.waitForFunction(() => document.querySelector('[data-testid=rate-chart] polyline'), null, { timeout: WAIT_MS });
    await sleep(1500);
    await screenshot(page, '10-operator');

    await page.setViewportSize({ width: 375, height: 812 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
    await screenshot(page, '11-operator-phone-375');
    await page.context().close();
    await watcher.context().close();
  });

  test('a wrong management token is refused with a message', async () => {
    const page = await newPage();
    await page.goto(`${server.base}/operator`);
    await page.getByLabel('Management token').fill('not-the-token');
    await page.getByRole('button', { name: 'Show overview' }).click();
    await page.locator('#managementToken-error').waitFor({ timeout: WAIT_MS });
    assert.match(await page.locator('#managementToken-error').textContent(), /refused/);
    await page.context().close();
  });
});
