/**
 * Sign-in: through the deployment's identity provider when the server names one
 * (`/config.json`), and development sign-in (a customer id in, a token from `POST /dev/token`
 * out) when the server serves it.
 */
import { Component, OnInit, inject, signal } from '@angular/core';
import { FormsModule } from '@angular/forms';
import { Router } from '@angular/router';
import { ApiService } from '../core/api.service';
import { FormErrors, NO_ERRORS, formErrors } from '../core/field-errors';
import { Problem } from '../core/models';
import { SessionService } from '../core/session.service';
import { OidcService } from '../core/oidc.service';

@Component({
  selector: 'app-sign-in',
  imports: [FormsModule],
  template: `
    <section class="card narrow" aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">Sign in</h1>
      @if (provider()) {
        <p>Sign in with your account; you will come back here afterwards.</p>
        <button type="button" data-testid="provider-sign-in" (click)="signInWithProvider()" [disabled]="busy()">
          Sign in with your account
        </button>
      }
      @if (devSignIn()) {
      <p class="hint">
        Development sign-in: any customer id gets a token from this server. Your progress appears
        live as you go.
      </p>
      @if (errors().general) {
        <p class="alert" role="alert">{{ errors().general }}</p>
      }
      <form (ngSubmit)="submit()" novalidate>
        <div class="field">
          <label for="customerId">Customer ID</label>
          <input
            id="customerId"
            name="customerId"
            autocomplete="username"
            [(ngModel)]="customerId"
            [attr.aria-invalid]="errors().fields['customerId'] ? true : null"
            [attr.aria-describedby]="errors().fields['customerId'] ? 'customerId-error' : 'customerId-hint'"
          />
          <p id="customerId-hint" class="hint">Up to 128 letters, digits and . _ : @ -, e.g. test-customer-123.</p>
          @if (errors().fields['customerId']; as reason) {
            <p id="customerId-error" class="field-error">{{ reason }}</p>
          }
        </div>
        <button type="submit" [disabled]="busy()">{{ busy() ? 'Signing in…' : 'Sign in' }}</button>
      </form>
      }
    </section>
  `,
})
export class SignInPage implements OnInit {
  private readonly api = inject(ApiService);
  private readonly session = inject(SessionService);
  private readonly router = inject(Router);

  private readonly oidc = inject(OidcService);

  customerId = '';
  readonly busy = signal(false);
  /** An identity provider is configured. */
  readonly provider = signal(false);
  /** The server serves development sign-in. */
  readonly devSignIn = signal(false);
  readonly errors = signal<FormErrors>(NO_ERRORS);

  ngOnInit(): void {
    if (this.session.signedIn()) {
      void this.router.navigateByUrl('/onboarding');
      return;
    }
    void this.oidc.clientConfig().then((config) => {
      this.provider.set(config.oidc !== null);
      this.devSignIn.set(config.devSignIn || config.oidc === null);
    });
  }

  signInWithProvider(): void {
    this.busy.set(true);
    this.oidc.signIn().catch((error: unknown) => {
      this.busy.set(false);
      this.errors.set({ fields: {}, general: `The sign-in page cannot be reached: ${String(error)}` });
    });
  }

  submit(): void {
    const id = this.customerId.trim();
    if (!id) {
      this.errors.set({ fields: { customerId: 'Enter your customer ID.' }, general: null });
      focusField('customerId');
      return;
    }
    this.busy.set(true);
    this.errors.set(NO_ERRORS);
    this.api.devToken(id).subscribe({
      next: (answer) => {
        this.busy.set(false);
        this.session.signIn({ customerId: answer.customerId, token: answer.token });
        void this.router.navigateByUrl('/onboarding');
      },
      error: (problem: Problem) => {
        this.busy.set(false);
        this.errors.set(formErrors(problem, ['customerId']));
        focusField('customerId');
      },
    });
  }
}

export function focusField(id: string): void {
  setTimeout(() => document.getElementById(id)?.focus());
}
