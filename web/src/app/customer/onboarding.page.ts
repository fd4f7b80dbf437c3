/** The customer's page: the wizard beside the live timeline, following the signed-in customer. */
import { Component, OnDestroy, OnInit, computed, inject, signal } from '@angular/core';
import { toSignal } from '@angular/core/rxjs-interop';
import { Router } from '@angular/router';
import { ApiService, StepAnswer } from '../core/api.service';
import { ApplicationView, applicationFrom, isStatus, rank, recommendationFrom } from '../core/application';
import { LiveEventsService } from '../core/live-events.service';
import { Problem } from '../core/models';
import { SessionService } from '../core/session.service';
import { OidcService } from '../core/oidc.service';
import { TimelineComponent } from './timeline.component';
import { WizardComponent } from './wizard.component';

@Component({
  selector: 'app-onboarding',
  imports: [TimelineComponent, WizardComponent],
  template: `
    @if (session.session(); as s) {
      <div class="page-head">
        <h1>Your onboarding</h1>
        <p class="who">
          Signed in as <strong data-testid="customer-id">{{ s.customerId }}</strong>
          <button type="button" class="link" (click)="signOut()">Sign out</button>
        </p>
      </div>
      @if (loadError()) {
        <p class="alert" role="alert">{{ loadError() }}</p>
      }
      <div class="columns">
        <app-wizard [view]="view()" (answered)="onAnswer($event)" />
        <app-timeline [events]="events()" [state]="state()" [retry]="retry()" />
      </div>
    }
  `,
})
export class OnboardingPage implements OnInit, OnDestroy {
  readonly session = inject(SessionService);
  private readonly live = inject(LiveEventsService);
  private readonly api = inject(ApiService);
  private readonly router = inject(Router);
  private readonly oidc = inject(OidcService);

  readonly events = toSignal(this.live.events$, { initialValue: [] });
  readonly state = toSignal(this.live.state$, { initialValue: 'idle' as const });
  readonly retry = toSignal(this.live.retry$, { initialValue: null });
  readonly loadError = signal<string | null>(null);
  /** What the latest step answer said, until its event arrives (usually milliseconds later). */
  private readonly answered = signal<ApplicationView | null>(null);

  readonly view = computed<ApplicationView>(() => {
    const fromEvents = applicationFrom(this.events());
    const local = this.answered();
    return local && rank(local.status) >= rank(fromEvents.status) ? { ...fromEvents, ...local } : fromEvents;
  });

  ngOnInit(): void {
    const session = this.session.session();
    if (!session) {
      void this.router.navigateByUrl('/');
      return;
    }
    this.live.start(session.customerId, session.token);
    // Signed in through the provider: keep renewing its tokens (and the socket's) after a reload.
    void this.oidc.resume();
    // The stored timeline first (a reload shows it at once); the socket resumes after it.
    this.api.events(session.customerId).subscribe({
      next: (page) => this.live.seed(page.events),
      error: (problem: Problem) => {
        if (problem.status === 401 || problem.status === 403) {
          this.signOut();
        } else {
          this.loadError.set(`Your earlier events could not be loaded: ${problem.detail}`);
        }
      },
    });
  }

  ngOnDestroy(): void {
    this.live.stop();
  }

  onAnswer(answer: StepAnswer): void {
    if (!isStatus(answer.status)) {
      return;
    }
    const current = this.view();
    this.answered.set({
      applicationId: answer.applicationId ?? current.applicationId,
      status: answer.status,
      recommendation: recommendationFrom(answer) ?? current.recommendation,
      kycDecision: typeof answer['decision'] === 'string' ? answer['decision'] : current.kycDecision,
    });
  }

  signOut(): void {
    this.live.stop();
    this.live.clear();
    this.session.signOut();
    void this.oidc.signOut();
    void this.router.navigateByUrl('/');
  }
}
