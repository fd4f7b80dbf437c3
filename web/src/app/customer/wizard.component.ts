/** The five onboarding steps as a wizard; the server validates, its field errors show inline. */
import { Component, ElementRef, computed, effect, inject, input, output, signal, untracked } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { Observable } from 'rxjs';
import { ApiService, StepAnswer } from '../core/api.service';
import { ApplicationView } from '../core/application';
import { COVERAGE_TYPES, DOCUMENT_TYPES } from '../core/describe';
import { FormErrors, NO_ERRORS, formErrors } from '../core/field-errors';
import { Problem } from '../core/models';
import { focusField } from './sign-in.page';

export const STEPS = ['Your details', 'Identity document', 'Identity check', 'Coverage', 'Accept policy'];

/** Which step a status leaves the customer on (5 = done). */
function stepOf(view: ApplicationView): number {
  switch (view.status) {
    case 'STARTED':
      return 0;
    case 'USER_INFO_SUBMITTED':
      return 1;
    case 'DOCUMENTS_PROCESSED':
    case 'KYC_REJECTED':
    case 'KYC_REVIEW':
      return 2;
    case 'KYC_VERIFIED':
      return 3;
    case 'POLICY_RECOMMENDED':
      return 4;
    case 'COMPLETED':
      return 5;
  }
}

@Component({
  selector: 'app-wizard',
  imports: [FormsModule],
  templateUrl: './wizard.component.html',
})
export class WizardComponent {
  private readonly api = inject(ApiService);
  private readonly host = inject<ElementRef<HTMLElement>>(ElementRef);

  readonly view = input.required<ApplicationView>();
  /** A step's answer, so the page moves on without waiting for the event. */
  readonly answered = output<StepAnswer>();

  readonly steps = STEPS;
  readonly documentTypes = DOCUMENT_TYPES;
  readonly coverageTypes = COVERAGE_TYPES;

  readonly changingCoverage = signal(false);
  readonly step = computed(() => {
    const step = stepOf(this.view());
    return step === 4 && this.changingCoverage() ? 3 : step;
  });
  readonly blocked = computed(() => this.view().status === 'KYC_REJECTED' || this.view().status === 'KYC_REVIEW');
  readonly busy = signal(false);
  readonly errors = signal<FormErrors>(NO_ERRORS);
  /** Reasons of the last KYC answer (the event carries them too, but this is immediate). */
  readonly kycReasons = signal<string[]>([]);

  user = { email: '', firstName: '', lastName: '', dateOfBirth: '', phoneNumber: '' };
  doc = { documentType: 'passport', documentNumber: '', fullName: '', expiryDate: '' };
  file: File | null = null;
  coverage = { coverageType: 'life', monthlyBudget: null as number | null };

  constructor() {
    // Keyboard and screen-reader users land on the new step's heading when the step changes.
    let first = true;
    effect(() => {
      this.step();
      if (first) {
        first = false;
        return;
      }
      untracked(() => {
        this.errors.set(NO_ERRORS);
        setTimeout(() => this.host.nativeElement.querySelector<HTMLElement>('#step-title')?.focus());
      });
    });
  }

  fieldError(name: string): string | null {
    return this.errors().fields[name] ?? null;
  }

  describedBy(name: string, hint?: string): string | null {
    const ids = [hint, this.fieldError(name) ? `${name}-error` : undefined].filter(Boolean);
    return ids.length ? ids.join(' ') : null;
  }

  onFile(event: Event): void {
    const input = event.target as HTMLInputElement;
    this.file = input.files?.item(0) ?? null;
  }

  submitUser(): void {
    this.run(this.api.submitUserInfo({ ...this.user }), ['email', 'firstName', 'lastName', 'dateOfBirth', 'phoneNumber']);
    if (!this.doc.fullName) {
      this.doc.fullName = `${this.user.firstName} ${this.user.lastName}`.trim();
    }
  }

  submitDocument(): void {
    const applicationId = this.view().applicationId;
    if (!applicationId) {
      return;
    }
    if (!this.file) {
      this.errors.set({ fields: { file: 'Choose a PDF, JPEG or PNG file of the document.' }, general: null });
      focusField('file');
      return;
    }
    this.run(this.api.uploadDocument(applicationId, { ...this.doc, file: this.file }), [
      'documentType',
      'documentNumber',
      'fullName',
      'expiryDate',
      'file',
    ]);
  }

  submitKyc(): void {
    const applicationId = this.view().applicationId;
    if (applicationId) {
      this.run(this.api.performKyc(applicationId), [], (answer) => {
        const reasons = Array.isArray(answer['reasons']) ? answer['reasons'] : [];
        this.kycReasons.set(
          reasons
            .filter((r: { verdict?: string }) => r && r.verdict !== 'pass' && r.verdict !== 'skipped')
            .map((r: { message?: string }) => String(r.message ?? '')),
        );
      });
    }
  }

  submitCoverage(): void {
    const applicationId = this.view().applicationId;
    if (applicationId) {
      const budget = this.coverage.monthlyBudget;
      this.run(
        this.api.recommendPolicy(applicationId, this.coverage.coverageType, budget === null || `${budget}` === '' ? null : Number(budget)),
        ['coverageType', 'monthlyBudget'],
        () => this.changingCoverage.set(false),
      );
    }
  }

  accept(): void {
    const view = this.view();
    if (view.applicationId && view.recommendation) {
      this.run(this.api.complete(view.applicationId, view.recommendation.policyId), ['policyId']);
    }
  }

  private run(call: Observable<StepAnswer>, fields: string[], then?: (answer: StepAnswer) => void): void {
    this.busy.set(true);
    this.errors.set(NO_ERRORS);
    call.subscribe({
      next: (answer) => {
        this.busy.set(false);
        then?.(answer);
        this.answered.emit(answer);
      },
      error: (problem: Problem) => {
        this.busy.set(false);
        const errors = formErrors(problem, fields);
        this.errors.set(errors);
        const first = fields.find((f) => errors.fields[f]);
        focusField(first ?? 'step-alert');
      },
    });
  }
}
