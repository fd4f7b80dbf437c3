/**
 * The recent events across customers, bounded (the newest `limit`, in a scrolling box) and
 * filterable by customer, topic or text, so the page stays one screen however busy the
 * system is.
 */
import { Component, computed, input, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { describeEvent } from '../core/describe';
import { Envelope } from '../core/models';

/** At most this many rows are shown. */
export const RECENT_EVENTS_SHOWN = 20;

@Component({
  selector: 'app-recent-events',
  imports: [DatePipe],
  template: `
    <section class="card" aria-labelledby="recent-title">
      <h2 id="recent-title">Recent events</h2>
      <div class="field">
        <label for="recentFilter">Filter (customer, topic or text)</label>
        <input id="recentFilter" type="search" [value]="filter()" (input)="filter.set($any($event.target).value)" />
      </div>
      <div class="table-wrap bounded" tabindex="0" role="region" aria-labelledby="recent-title">
        <table data-testid="recent-events">
          <thead><tr><th scope="col">Time</th><th scope="col">Customer</th><th scope="col">Topic</th><th scope="col">#</th><th scope="col">What</th></tr></thead>
          <tbody>
            @for (event of shown(); track event.id) {
              <tr>
                <td><time [attr.datetime]="event.occurredAt">{{ event.occurredAt | date: 'HH:mm:ss' }}</time></td>
                <td>{{ event.customerId }}</td>
                <td><code>{{ event.type }}</code></td>
                <td>{{ event.sequence }}</td>
                <td>{{ describe(event) }}</td>
              </tr>
            } @empty {
              <tr><td colspan="5">{{ filter() ? 'No event matches the filter.' : 'No events yet.' }}</td></tr>
            }
          </tbody>
        </table>
      </div>
      <p class="hint" data-testid="recent-events-count">Showing {{ shown().length }} of {{ matching() }} matching ({{ events().length }} recent).</p>
    </section>
  `,
})
export class RecentEventsComponent {
  readonly events = input.required<readonly Envelope[]>();
  readonly filter = signal('');

  private readonly matches = computed(() => filterEvents(this.events(), this.filter()));
  readonly matching = computed(() => this.matches().length);
  readonly shown = computed(() => this.matches().slice(0, RECENT_EVENTS_SHOWN));

  describe(event: Envelope): string {
    return describeEvent(event);
  }
}

/** The events whose customer, topic or description contains `filter` (any case). */
export function filterEvents(events: readonly Envelope[], filter: string): readonly Envelope[] {
  const needle = filter.trim().toLowerCase();
  if (!needle) {
    return events;
  }
  return events.filter((e) =>
    [e.customerId, e.type, describeEvent(e)].some((field) => field.toLowerCase().includes(needle)),
  );
}
