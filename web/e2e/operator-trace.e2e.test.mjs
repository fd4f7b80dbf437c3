// End to end: the operator page's customer search shows the customer's trace (Chromium against
// the real `onboard up` binary).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WAIT_MS,
  browserSuite,
  screenshot,
  signIn,
  submitDetails,
  uniqueId,
  uploadDocument,
  waitForTimeline,
} from './support.mjs';

const { server, newPage } = browserSuite();

async function operatorPage() {
  const page = await newPage();
  await page.goto(`${server.base}/operator`);
  await page.getByLabel('Management token').fill(server.managementToken());
  await page.getByRole('button', { name: 'Show overview' }).click();
  await page.getByLabel('Customer ID to trace').waitFor({ timeout: WAIT_MS });
  return page;
}

test("searching a customer shows each event's request id, offset, commit and push", async () => {
  const customer = await newPage();
  const customerId = uniqueId('tracy');
  const person = { first: 'Tracy', last: 'Hops' };
  await signIn(customer, server.base, customerId);
  await submitDetails(customer, person);
  await uploadDocument(customer, person);
  await waitForTimeline(customer, 2);

  const page = await operatorPage();
  await page.getByLabel('Customer ID to trace').fill(customerId);
  await page.getByRole('button', { name: 'Trace' }).click();
  // Commits and push outcomes are recorded just after the events reach the page: search again
  // until both rows show them.
  const deadline = Date.now() + WAIT_MS;
  let rows = [];
  for (;;) {
    await page.locator('[data-testid=trace-summary]').waitFor({ timeout: WAIT_MS });
    rows = await page
      .locator('[data-testid=trace] tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
    const complete = rows.length === 2 && rows.every((cells) => !cells[5].includes('not yet') && cells[7].includes('delivered'));
    if (complete || Date.now() > deadline) {
      break;
    }
    await page.getByRole('button', { name: 'Trace' }).click();
    await page.waitForTimeout(200);
  }
  assert.equal(rows.length, 2, JSON.stringify(rows));
  assert.deepEqual(
    rows.map((cells) => cells[1]),
    ['user-info-submitted', 'documents-processed'],
  );
  for (const cells of rows) {
    assert.match(cells[2], /^[0-9a-f-]{36}$/, 'the request id the edge gave the step');
    assert.match(cells[4], /^(?:.*\.)?[a-z-]+ \/ \d+ \/ \d+$/, 'topic / partition / offset');
    assert.ok(!cells[5].includes('not yet'), `committed: ${cells[5]}`);
    assert.match(cells[7], /delivered on node-/);
    assert.match(cells[8], /^\d+ ms$/);
  }
  await screenshot(page, '20-operator-trace');

  // A customer id the server would refuse is named before any request.
  await page.getByLabel('Customer ID to trace').fill('not a customer id');
  await page.getByRole('button', { name: 'Trace' }).click();
  await page.locator('#traceCustomerId-error').waitFor({ timeout: WAIT_MS });
  assert.match(await page.locator('#traceCustomerId-error').textContent(), /letters, digits/);
  await page.context().close();
  await customer.context().close();
});
