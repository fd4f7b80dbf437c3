/**
 * The operator page: stalled applications, dead-lettered records with replay, recent events
 * (bounded, filterable), open connections, consumer lag per topic and partition, dead-letter
 * counts, and events per second — polled from `/v1/ops/overview`, `/v1/ops/stalls`,
 * `/v1/ops/dead-letters` (management token) and `/metrics`. Each part is its own component.
 */
import { Component, DestroyRef, OnInit, computed, inject, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { DatePipe } from '@angular/common';
import { FormsModule } from '@angular/forms';
import { Subscription, catchError, forkJoin, of, switchMap, timer } from 'rxjs';
import { OpsApiService, OpsOverview } from '../core/api.service';
import { describeEvent } from '../core/describe';
import { Envelope, Problem } from '../core/models';
import { RateChartComponent, RatePoint } from './rate-chart.component';
import { StalledApplicationsComponent } from './stalled-applications.component';
import { DeadLetterRecordsComponent } from './dead-letter-records.component';
import { RecentEventsComponent } from './recent-events.component';
import { CustomerTraceComponent } from './customer-trace.component';

const TOKEN_KEY = 'onboard.managementToken';
const POLL_MS = 1000;

@Component({
  selector: 'app-operator',
  imports: [DatePipe, FormsModule, RateChartComponent, StalledApplicationsComponent, DeadLetterRecordsComponent, RecentEventsComponent, CustomerTraceComponent],
  templateUrl: './operator.page.html',
})
export class OperatorPage implements OnInit {
  private readonly ops = inject(OpsApiService);
  private readonly destroyRef = inject(DestroyRef);

  readonly token = signal<string | null>(sessionStorage.getItem(TOKEN_KEY));
  tokenInput = '';
  readonly tokenError = signal<string | null>(null);
  readonly pollError = signal<string | null>(null);
  readonly overview = signal<OpsOverview | null>(null);
  readonly rate = signal<readonly RatePoint[]>([]);
  readonly now = signal(Date.now());
  private lastSample: { at: number; total: number } | null = null;
  private polling: Subscription | null = null;

  readonly totalLag = computed(() => (this.overview()?.consumerLag ?? []).reduce((sum, l) => sum + l.lag, 0));
  readonly totalDead = computed(() => (this.overview()?.deadLetters ?? []).reduce((sum, d) => sum + d.count, 0));
  readonly currentRate = computed(() => {
    const points = this.rate();
    return points.length ? points[points.length - 1].perSecond : 0;
  });

  ngOnInit(): void {
    if (this.token()) {
      this.startPolling();
    }
  }

  useToken(): void {
    const token = this.tokenInput.trim();
    if (!token) {
      this.tokenError.set('Enter the management token.');
      setTimeout(() => document.getElementById('managementToken')?.focus());
      return;
    }
    this.tokenError.set(null);
    sessionStorage.setItem(TOKEN_KEY, token);
    this.token.set(token);
    this.tokenInput = '';
    this.startPolling();
  }

  forgetToken(message: string | null = null): void {
    this.polling?.unsubscribe();
    this.polling = null;
    sessionStorage.removeItem(TOKEN_KEY);
    this.token.set(null);
    this.overview.set(null);
    this.tokenError.set(message);
  }

  describe(event: Envelope): string {
    return describeEvent(event);
  }

  private startPolling(): void {
    this.polling?.unsubscribe();
    this.polling = timer(0, POLL_MS)
      .pipe(
        switchMap(() =>
          forkJoin({
            overview: this.ops.overview(this.token() ?? ''),
            metrics: this.ops.metrics(this.token() ?? '').pipe(catchError(() => of(null))),
          }).pipe(catchError((problem: Problem) => of({ problem }))),
        ),
        takeUntilDestroyed(this.destroyRef),
      )
      .subscribe((result) => {
        this.now.set(Date.now());
        if ('problem' in result) {
          if (result.problem.status === 401) {
            this.forgetToken('The server refused this token. Print the right one with: onboard token --management');
          } else {
            this.pollError.set(`Cannot refresh: ${result.problem.detail}`);
          }
          return;
        }
        this.pollError.set(null);
        this.overview.set(result.overview);
        if (result.metrics) {
          this.sample(recordsConsumed(result.metrics));
        }
      });
  }

  /** Turns the records-consumed counter into a rate between two polls. */
  private sample(total: number): void {
    const at = Date.now();
    const last = this.lastSample;
    this.lastSample = { at, total };
    if (!last || at <= last.at) {
      return;
    }
    const perSecond = Math.max(0, ((total - last.total) * 1000) / (at - last.at));
    this.rate.update((points) => [...points.filter((p) => at - p.at <= 60_000), { at, perSecond }]);
  }
}

/** Records the consumers settled, over every topic (`onboard_records_consumed_total{topic}`). */
function recordsConsumed(metrics: Map<string, number>): number {
  let total = 0;
  for (const [series, value] of metrics) {
    if (series.startsWith('onboard_records_consumed_total')) {
      total += value;
    }
  }
  return total;
}
