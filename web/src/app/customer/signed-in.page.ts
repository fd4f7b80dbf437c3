/** Where the identity provider sends the browser back: completes the code flow, then onboarding. */
import { Component, OnInit, inject, signal } from '@angular/core';
import { Router } from '@angular/router';
import { OidcService } from '../core/oidc.service';

@Component({
  selector: 'app-signed-in',
  template: `
    <section class="card narrow" aria-live="polite">
      @if (error(); as reason) {
        <h1>Sign-in failed</h1>
        <p class="alert" role="alert">{{ reason }}</p>
        <p><a href="/">Try again</a></p>
      } @else {
        <p>Signing you in…</p>
      }
    </section>
  `,
})
export class SignedInPage implements OnInit {
  private readonly oidc = inject(OidcService);
  private readonly router = inject(Router);
  readonly error = signal<string | null>(null);

  ngOnInit(): void {
    this.oidc.completeSignIn().then(
      () => void this.router.navigateByUrl('/onboarding', { replaceUrl: true }),
      (error: unknown) => this.error.set(error instanceof Error ? error.message : String(error)),
    );
  }
}
