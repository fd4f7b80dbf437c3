/** The page shell: a skip link, the header with navigation, and the routed page. */
import { Component } from '@angular/core';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';

@Component({
  selector: 'app-root',
  imports: [RouterOutlet, RouterLink, RouterLinkActive],
  template: `
    <a class="skip-link" href="#main">Skip to content</a>
    <header class="app-header">
      <a class="brand" routerLink="/">Onboard</a>
      <nav aria-label="Main">
        <a routerLink="/onboarding" routerLinkActive="active" ariaCurrentWhenActive="page">Customer</a>
        <a routerLink="/operator" routerLinkActive="active" ariaCurrentWhenActive="page">Operator</a>
      </nav>
    </header>
    <main id="main" tabindex="-1">
      <router-outlet />
    </main>
  `,
})
export class App {}
