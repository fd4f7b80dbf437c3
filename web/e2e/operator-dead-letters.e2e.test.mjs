// End to end: a real poison record on the operator page. The store refuses one customer's
// events (a SQLite trigger, as a broken schema change would), so the consumer dead-letters the
// record after its attempts; the operator sees it with its reason, removes the cause, replays
// it after the confirmation (why, and who), and the customer's event is stored and shown; a
// second replay without "again" is refused. In Debian's Chromium against `onboard up`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WAIT_MS, browserSuite, screenshot, sqlite, submitUserInfo, uniqueId } from './support.mjs';

const { server, newPage } = browserSuite();

const BLOCKED = 'events of this customer are blocked';

describe('dead letters on the operator page', () => {
  test('a poison record is listed, replayed after confirmation with an audit, and not twice', async () => {
    const customerId = uniqueId('poisoned');
    sqlite(
      server,
      `CREATE TRIGGER block_poisoned BEFORE INSERT ON events WHEN NEW.customer_id = '${customerId}' ` +
        `BEGIN SELECT RAISE(ABORT, '${BLOCKED}'); END`,
    );
    await submitUserInfo(server, customerId, 'Poisoned');

    const page = await newPage();
    await page.goto(`${server.base}/operator`);
    await page.getByLabel('Management token').fill(server.managementToken());
    await page.getByRole('button', { name: 'Show overview' }).click();

    const row = page.locator('[data-testid=dead-letter-records] tbody tr', { hasText: BLOCKED });
    await row.waitFor({ timeout: WAIT_MS });
    assert.match(await row.textContent(), /user-info-submitted/);
    assert.match(await row.textContent(), /none/, 'not replayed yet');
    const events = page.locator('[data-testid=recent-events] tbody tr', { hasText: customerId });
    assert.equal(await events.count(), 0, 'the event was not stored');

    // The cause removed, the record is replayed after the confirmation.
    sqlite(server, 'DROP TRIGGER block_poisoned');
    await row.getByRole('button', { name: /^Replay / }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ timeout: WAIT_MS });
    assert.match(await dialog.textContent(), /onto user-info-submitted\?/);
    await dialog.getByRole('button', { name: 'Replay', exact: true }).click();
    // Why and who are required: the problem's fields are shown and nothing is replayed.
    await dialog.locator('.field-error').first().waitFor({ timeout: WAIT_MS });
    await page.getByLabel('Why can it be processed now?').fill('the blocking trigger was dropped');
    await page.getByLabel('Your name').fill('e2e operator');
    await dialog.getByRole('button', { name: 'Replay', exact: true }).click();
    const outcome = page.getByTestId('replay-outcome');
    await outcome.waitFor({ timeout: WAIT_MS });
    assert.match(await outcome.textContent(), /^Replayed user-info-submitted\.dlq:\d+:\d+ to user-info-submitted:\d+:\d+\.$/);

    // Stored at last, and the replay is on the record.
    await events.first().waitFor({ timeout: WAIT_MS });
    await page
      .locator('[data-testid=dead-letter-records] tbody tr', { hasText: 'by e2e operator: the blocking trigger was dropped' })
      .waitFor({ timeout: WAIT_MS });

    // A second replay without "again" is refused.
    await row.getByRole('button', { name: /^Replay / }).click();
    assert.match(await dialog.textContent(), /replayed 1 time\(s\) already/);
    await page.getByLabel('Why can it be processed now?').fill('once more');
    await dialog.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByText(/^Not replayed .*already-replayed\.$/).waitFor({ timeout: WAIT_MS });
    assert.equal(await events.count(), 1, 'stored once');
    await screenshot(page, '21-operator-dead-letter-replayed');
    await page.context().close();
  });
});
