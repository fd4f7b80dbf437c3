/**
 * The operator page's customer search: a customer id in, that customer's trace out
 * (`GET /v1/ops/trace/{customerId}`, the same JSON as `onboard trace --json`) — one row per
 * event with its request id, where its record landed, when it was committed, its
 * notifications and pushes, and the time from the step's answer to the push.
 */
import { HttpClient, HttpHeaders } from '@angular/common/http';
import { Component, inject, input, signal } from '@angular/core';
import { DatePipe } from '@angular/common';
import { FormsModule } from '@angular/forms';
import { catchError } from 'rxjs';
import { toProblem } from '../core/api.service';
import { Problem } from '../core/models';

export interface TracedEvent {
  eventId: string;
  type: string;
  sequence: number;
  correlationId: string;
  answeredAt: string;
  topic: string;
  partition: number | null;
  offset: number | null;
  publishedAt: string | null;
  storedAt: string | null;
  committedAt: string | null;
  notifications: { id: string; kind: string; status: string; attempts: number }[];
  pushes: { connectionId: string; nodeId: string; outcome: string; at: string }[];
  latencyMs: { answerToPush: number | null; answerToPublish: number | null };
}

export interface CustomerTrace {
  customerId: string;
  events: TracedEvent[];
}

/** What `CustomerId::parse` accepts, so a typo is named before a request is sent. */
const CUSTOMER_ID = /^[A-Za-z0-9._@:-]{1,128}$/;

@Component({
  selector: 'app-customer-trace',
  imports: [DatePipe, FormsModule],
  template: `
    <section class="card" aria-labelledby="trace-title">
      <h2 id="trace-title">Trace a customer</h2>
      <form (ngSubmit)="search()" novalidate>
        <div class="field">
          <label for="traceCustomerId">Customer ID to trace</label>
          <input id="traceCustomerId" name="traceCustomerId" autocomplete="off" [(ngModel)]="customerInput"
                 [attr.aria-invalid]="inputError() ? true : null"
                 [attr.aria-describedby]="inputError() ? 'traceCustomerId-error' : null" />
          @if (inputError(); as reason) { <p id="traceCustomerId-error" class="field-error">{{ reason }}</p> }
        </div>
        <button type="submit" [disabled]="loading()">Trace</button>
      </form>
      @if (problem(); as p) { <p class="alert" role="alert">{{ p }}</p> }
      @if (trace(); as t) {
        <p role="status" data-testid="trace-summary">{{ t.events.length }} event(s) of {{ t.customerId }}</p>
        <div class="table-wrap" tabindex="0" role="region" aria-labelledby="trace-title">
          <table data-testid="trace">
            <thead>
              <tr>
                <th scope="col">#</th><th scope="col">Event</th><th scope="col">Request id</th><th scope="col">Answered</th>
                <th scope="col">Topic / partition / offset</th><th scope="col">Committed</th>
                <th scope="col">Notifications</th><th scope="col">Pushes</th><th scope="col">Answer → push</th>
              </tr>
            </thead>
            <tbody>
              @for (e of t.events; track e.eventId) {
                <tr>
                  <td>{{ e.sequence }}</td>
                  <td><code>{{ e.type }}</code></td>
                  <td><code>{{ e.correlationId }}</code></td>
                  <td><time [attr.datetime]="e.answeredAt">{{ e.answeredAt | date: 'HH:mm:ss.SSS' }}</time></td>
                  <td data-testid="trace-position">{{ position(e) }}</td>
                  <td>
                    @if (e.committedAt) { <time [attr.datetime]="e.committedAt">{{ e.committedAt | date: 'HH:mm:ss.SSS' }}</time> }
                    @else { not yet }
                  </td>
                  <td>
                    @for (n of e.notifications; track n.id) { <span>{{ n.kind }}: {{ n.status }} ({{ n.attempts }})</span> }
                    @empty { none }
                  </td>
                  <td data-testid="trace-pushes">
                    @for (p of e.pushes; track p.connectionId) { <span [title]="p.connectionId">{{ p.outcome }} on {{ p.nodeId }}</span> }
                    @empty { no connection }
                  </td>
                  <td>{{ e.latencyMs.answerToPush === null ? '–' : e.latencyMs.answerToPush + ' ms' }}</td>
                </tr>
              } @empty {
                <tr><td colspan="9">No events for this customer.</td></tr>
              }
            </tbody>
          </table>
        </div>
      }
    </section>
  `,
})
export class CustomerTraceComponent {
  private readonly http = inject(HttpClient);

  /** The management token the page signed in with. */
  readonly token = input.required<string>();

  customerInput = '';
  readonly inputError = signal<string | null>(null);
  readonly problem = signal<string | null>(null);
  readonly loading = signal(false);
  readonly trace = signal<CustomerTrace | null>(null);

  search(): void {
    const customerId = this.customerInput.trim();
    if (!CUSTOMER_ID.test(customerId)) {
      this.inputError.set('Enter a customer id: 1 to 128 letters, digits or . _ @ : -');
      setTimeout(() => document.getElementById('traceCustomerId')?.focus());
      return;
    }
    this.inputError.set(null);
    this.problem.set(null);
    this.loading.set(true);
    this.http
      .get<CustomerTrace>(`/v1/ops/trace/${encodeURIComponent(customerId)}`, {
        headers: new HttpHeaders({ Authorization: `Bearer ${this.token()}` }),
      })
      .pipe(catchError(toProblem))
      .subscribe({
        next: (trace) => {
          this.loading.set(false);
          this.trace.set(trace);
        },
        error: (problem: Problem) => {
          this.loading.set(false);
          this.trace.set(null);
          this.problem.set(`The trace could not be read: ${problem.detail}`);
        },
      });
  }

  position(e: TracedEvent): string {
    return e.partition === null || e.offset === null
      ? `${e.topic} (not published yet)`
      : `${e.topic} / ${e.partition} / ${e.offset}`;
  }
}
