import { Routes } from '@angular/router';
import { SignInPage } from './customer/sign-in.page';
import { OnboardingPage } from './customer/onboarding.page';
import { SignedInPage } from './customer/signed-in.page';
import { OperatorPage } from './operator/operator.page';

export const routes: Routes = [
  { path: '', component: SignInPage, title: 'Sign in · Onboard' },
  { path: 'signed-in', component: SignedInPage, title: 'Signing in · Onboard' },
  { path: 'onboarding', component: OnboardingPage, title: 'Your onboarding · Onboard' },
  { path: 'operator', component: OperatorPage, title: 'Operations · Onboard' },
  { path: '**', redirectTo: '' },
];
