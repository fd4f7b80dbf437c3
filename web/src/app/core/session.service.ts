/** The signed-in customer: id and token, kept in sessionStorage so a reload stays signed in. */
import { Injectable, computed, signal } from '@angular/core';

const KEY = 'onboard.session';

export interface Session {
  customerId: string;
  token: string;
}

@Injectable({ providedIn: 'root' })
export class SessionService {
  private readonly current = signal<Session | null>(read());

  readonly session = this.current.asReadonly();
  readonly signedIn = computed(() => this.current() !== null);

  signIn(session: Session): void {
    sessionStorage.setItem(KEY, JSON.stringify(session));
    this.current.set(session);
  }

  signOut(): void {
    sessionStorage.removeItem(KEY);
    this.current.set(null);
  }
}

function read(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    const value = raw ? (JSON.parse(raw) as Partial<Session>) : null;
    return value && typeof value.customerId === 'string' && typeof value.token === 'string'
      ? { customerId: value.customerId, token: value.token }
      : null;
  } catch {
    return null;
  }
}
