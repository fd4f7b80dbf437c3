/**
 * The stalled applications (`GET /v1/ops/stalls`): each application waiting in one status
 * longer than its threshold, longest first; refreshed every few seconds. Operators were
 * alerted once per stall by mail; this is where they look next.
 */
import { Component, DestroyRef, OnInit, inject, input, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { DatePipe } from '@angular/common';
import { catchError, of, switchMap, timer } from 'rxjs';
import { OpsApiService, StalledApplication } from '../core/api.service';
import { Problem } from '../core/models';

const REFRESH_MS = 5000;

@Component({
  selector: 'app-stalled-applications',
  imports: [DatePipe],
  template: `
    <section class="card" aria-labelledby="stalls-title">
      <h2 id="stalls-title">Stalled applications</h2>
      @if (error(); as message) {
        <p class="alert" role="alert">{{ message }}</p>
      }
      <div class="table-wrap bounded" tabindex="0" role="region" aria-labelledby="stalls-title">
        <table data-testid="stalled-applications">
          <thead>
            <tr><th scope="col">Application</th><th scope="col">Customer</th><th scope="col">Status</th><th scope="col">Since</th><th scope="col">Stalled for</th></tr>
          </thead>
          <tbody>
            @for (s of stalled(); track s.applicationId + s.status) {
              <tr class="warn">
                <td><code>{{ s.applicationId }}</code></td>
                <td>{{ s.customerId }}</td>
                <td><code>{{ s.status }}</code></td>
                <td><time [attr.datetime]="s.since">{{ s.since | date: 'MMM d, HH:mm:ss' }}</time></td>
                <td>{{ duration(s.stalledForSeconds) }} (threshold {{ duration(s.thresholdSeconds) }})</td>
              </tr>
            } @empty {
              <tr><td colspan="5">No stalled applications.</td></tr>
            }
          </tbody>
        </table>
      </div>
    </section>
  `,
})
export class StalledApplicationsComponent implements OnInit {
  private readonly ops = inject(OpsApiService);
  private readonly destroyRef = inject(DestroyRef);

  /** The management token. */
  readonly token = input.required<string>();
  readonly stalled = signal<StalledApplication[]>([]);
  readonly error = signal<string | null>(null);

  ngOnInit(): void {
    timer(0, REFRESH_MS)
      .pipe(
        switchMap(() => this.ops.stalls(this.token()).pipe(catchError((problem: Problem) => of(problem)))),
        takeUntilDestroyed(this.destroyRef),
      )
      .subscribe((result) => {
        if (Array.isArray(result)) {
          this.stalled.set(result);
          this.error.set(null);
        } else {
          this.error.set(`Cannot list stalled applications: ${result.detail}`);
        }
      });
  }

  duration(seconds: number): string {
    return formatDuration(seconds);
  }
}

/** `95` → `1m 35s`, `7260` → `2h 1m`: the two largest units. */
export function formatDuration(seconds: number): string {
  const units: [string, number][] = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
  const parts: string[] = [];
  let left = Math.max(0, Math.floor(seconds));
  for (const [name, size] of units) {
    if (left >= size || (name === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(left / size)}${name}`);
      left %= size;
    }
    if (parts.length === 2) {
      break;
    }
  }
  return parts.join(' ');
}
