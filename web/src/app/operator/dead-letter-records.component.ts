/**
 * The dead-lettered records (`GET /v1/ops/dead-letters`): origin, reason, attempts, event id
 * and type, and their replays; a record is replayed after a confirmation that asks why (what
 * was fixed) and who asks, both kept in the audit row (`POST /v1/ops/dead-letters/replay`).
 */
import { Component, DestroyRef, OnInit, inject, input, signal } from '@angular/core';
import { takeUntilDestroyed } from '@angular/core/rxjs-interop';
import { DatePipe } from '@angular/common';
import { FormsModule } from '@angular/forms';
import { Subject, catchError, merge, of, switchMap, timer } from 'rxjs';
import { DeadLetter, OpsApiService } from '../core/api.service';
import { Problem } from '../core/models';

const REFRESH_MS = 5000;

@Component({
  selector: 'app-dead-letter-records',
  imports: [DatePipe, FormsModule],
  template: `
    <section class="card" aria-labelledby="dlq-records-title">
      <h2 id="dlq-records-title">Dead-lettered records</h2>
      @if (error(); as message) {
        <p class="alert" role="alert">{{ message }}</p>
      }
      @if (outcome(); as message) {
        <p class="hint" role="status" data-testid="replay-outcome">{{ message }}</p>
      }
      <div class="table-wrap bounded" tabindex="0" role="region" aria-labelledby="dlq-records-title">
        <table data-testid="dead-letter-records">
          <thead>
            <tr><th scope="col">Record</th><th scope="col">Event</th><th scope="col">Reason</th><th scope="col">Attempts</th><th scope="col">When</th><th scope="col">Replays</th><th scope="col"><span class="visually-hidden">Action</span></th></tr>
          </thead>
          <tbody>
            @for (d of records(); track d.id) {
              <tr>
                <td><code>{{ d.id }}</code></td>
                <td>{{ d.eventType ?? '-' }} <code>{{ d.eventId ?? '' }}</code></td>
                <td>{{ d.reason ?? '-' }}</td>
                <td>{{ d.attempts ?? '-' }}</td>
                <td>@if (d.deadLetteredAt) { <time [attr.datetime]="d.deadLetteredAt">{{ d.deadLetteredAt | date: 'MMM d, HH:mm:ss' }}</time> }</td>
                <td>
                  @for (r of d.replays; track r.replayedAt) {
                    <div>{{ r.replayedAt | date: 'MMM d, HH:mm' }} by {{ r.replayedBy }}: {{ r.reason }}</div>
                  } @empty { none }
                </td>
                <td><button type="button" (click)="ask(d)" [attr.aria-label]="'Replay ' + d.id">Replay…</button></td>
              </tr>
            } @empty {
              <tr><td colspan="7">No dead-lettered records.</td></tr>
            }
          </tbody>
        </table>
      </div>
      @if (confirming(); as d) {
        <form class="confirm" role="dialog" aria-labelledby="replay-title" (ngSubmit)="replay(d)" novalidate>
          <h3 id="replay-title">Replay {{ d.id }} onto {{ d.originTopic }}?</h3>
          @if (d.replays.length) {
            <p class="alert">It was replayed {{ d.replays.length }} time(s) already; replaying again needs "again".</p>
          }
          <div class="field">
            <label for="replayReason">Why can it be processed now?</label>
            <input id="replayReason" name="replayReason" [(ngModel)]="reason" [attr.aria-invalid]="fieldErrors()['reason'] ? true : null" />
            @if (fieldErrors()['reason']; as why) { <p class="field-error">{{ why }}</p> }
          </div>
          <div class="field">
            <label for="replayBy">Your name</label>
            <input id="replayBy" name="replayBy" [(ngModel)]="by" [attr.aria-invalid]="fieldErrors()['by'] ? true : null" />
            @if (fieldErrors()['by']; as why) { <p class="field-error">{{ why }}</p> }
          </div>
          @if (d.replays.length) {
            <label><input type="checkbox" name="replayForce" [(ngModel)]="force" /> again</label>
          }
          <button type="submit">Replay</button>
          <button type="button" class="link" (click)="confirming.set(null)">Cancel</button>
        </form>
      }
    </section>
  `,
})
export class DeadLetterRecordsComponent implements OnInit {
  private readonly ops = inject(OpsApiService);
  private readonly destroyRef = inject(DestroyRef);
  private readonly reload = new Subject<void>();

  /** The management token. */
  readonly token = input.required<string>();
  readonly records = signal<DeadLetter[]>([]);
  readonly error = signal<string | null>(null);
  readonly outcome = signal<string | null>(null);
  readonly confirming = signal<DeadLetter | null>(null);
  readonly fieldErrors = signal<Record<string, string>>({});
  reason = '';
  by = '';
  force = false;

  ngOnInit(): void {
    merge(timer(0, REFRESH_MS), this.reload)
      .pipe(
        switchMap(() => this.ops.deadLetters(this.token()).pipe(catchError((problem: Problem) => of(problem)))),
        takeUntilDestroyed(this.destroyRef),
      )
      .subscribe((result) => {
        if (Array.isArray(result)) {
          this.records.set(result);
          this.error.set(null);
        } else {
          this.error.set(`Cannot list dead letters: ${result.detail}`);
        }
      });
  }

  ask(record: DeadLetter): void {
    this.confirming.set(record);
    this.fieldErrors.set({});
    this.outcome.set(null);
    this.reason = '';
    this.force = false;
    setTimeout(() => document.getElementById('replayReason')?.focus());
  }

  replay(record: DeadLetter): void {
    this.ops
      .replay(this.token(), { ids: [record.id], reason: this.reason, by: this.by, force: this.force })
      .subscribe({
        next: (results) => {
          const result = results[0];
          this.confirming.set(null);
          this.outcome.set(
            result?.outcome === 'replayed'
              ? `Replayed ${record.id} to ${result.replayedTo}.`
              : `Not replayed ${record.id}: ${result?.detail ?? result?.outcome}.`,
          );
          this.reload.next();
        },
        error: (problem: Problem) => {
          const errors: Record<string, string> = {};
          for (const e of problem.errors ?? []) {
            errors[e.name] = e.reason;
          }
          this.fieldErrors.set(errors);
          if (!problem.errors?.length) {
            this.outcome.set(`Replay failed: ${problem.detail}`);
          }
        },
      });
  }
}
