/** The live timeline: each event's topic, time and a sentence, and the connection's state. */
import { Component, computed, input } from '@angular/core';
import { DatePipe } from '@angular/common';
import { ConnectionState, RetryInfo } from '../core/live-events.service';
import { describeEvent } from '../core/describe';
import { Envelope } from '../core/models';

@Component({
  selector: 'app-timeline',
  imports: [DatePipe],
  template: `
    <section class="card timeline" aria-labelledby="timeline-title">
      <div class="timeline-head">
        <h2 id="timeline-title">Timeline</h2>
        <p [class]="'connection ' + state()" role="status" data-testid="connection">
          <span class="dot" aria-hidden="true"></span>
          <span class="label">{{ label() }}</span>
        </p>
      </div>
      @if (events().length === 0) {
        <p class="hint" data-testid="timeline-empty">No events yet. They appear here the moment each step is done.</p>
      }
      <ol class="events" aria-live="polite" aria-relevant="additions" data-testid="timeline">
        @for (event of events(); track event.id) {
          <li
            class="event"
            [class.error]="event.type === 'workflow-errors'"
            [attr.data-sequence]="event.sequence"
            [attr.data-topic]="event.type"
          >
            <div class="event-meta">
              <code class="topic">{{ event.type }}</code>
              <time [attr.datetime]="event.occurredAt">{{ event.occurredAt | date: 'HH:mm:ss' }}</time>
            </div>
            <p class="sentence">{{ sentence(event) }}</p>
          </li>
        }
      </ol>
    </section>
  `,
})
export class TimelineComponent {
  readonly events = input.required<readonly Envelope[]>();
  readonly state = input.required<ConnectionState>();
  readonly retry = input<RetryInfo | null>(null);

  readonly label = computed(() => {
    switch (this.state()) {
      case 'live':
        return 'Live';
      case 'connecting':
        return 'Connecting…';
      case 'reconnecting': {
        const retry = this.retry();
        return retry
          ? `Reconnecting… (try ${retry.attempt} within ${Math.ceil(retry.delayMs / 1000)} s)`
          : 'Reconnecting…';
      }
      default:
        return 'Offline';
    }
  });

  sentence(event: Envelope): string {
    return describeEvent(event);
  }
}
