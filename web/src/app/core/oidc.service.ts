/**
 * Customer sign-in with the deployment's OpenID Connect provider, when the server names one in
 * `GET /config.json`: the authorization-code flow with PKCE (oidc-client-ts), tokens renewed in
 * the background before they expire, and each renewed token handed to the API calls (through
 * the session) and to the open WebSocket (an `auth` action).
 */
import { Injectable, inject } from '@angular/core';
import { User, UserManager, WebStorageStateStore } from 'oidc-client-ts';
import { LiveEventsService } from './live-events.service';
import { SessionService } from './session.service';

/** `GET /config.json`. */
export interface ClientConfig {
  oidc: { issuer: string; clientId: string; scopes: string; customerClaim: string } | null;
  devSignIn: boolean;
}

/** Where the provider sends the browser back with the authorization code. */
export const CALLBACK_PATH = '/signed-in';

@Injectable({ providedIn: 'root' })
export class OidcService {
  private readonly session = inject(SessionService);
  private readonly live = inject(LiveEventsService);
  private config: Promise<ClientConfig> | null = null;
  private manager: UserManager | null = null;

  /** The server's public client configuration (fetched once). */
  clientConfig(): Promise<ClientConfig> {
    this.config ??= fetch('/config.json', { headers: { Accept: 'application/json' } })
      .then((r) => (r.ok ? (r.json() as Promise<ClientConfig>) : { oidc: null, devSignIn: true }))
      .catch(() => ({ oidc: null, devSignIn: true }));
    return this.config;
  }

  /** Sends the browser to the provider's sign-in page. */
  async signIn(): Promise<void> {
    const manager = await this.userManager();
    await manager?.signinRedirect();
  }

  /** Completes the sign-in the provider redirected back from; the customer id, or an error. */
  async completeSignIn(): Promise<string> {
    const manager = await this.userManager();
    if (!manager) {
      throw new Error('This server has no identity provider configured.');
    }
    const user = await manager.signinRedirectCallback();
    return this.adopt(user);
  }

  /** After a reload: keeps renewing the signed-in provider session, if there is one. */
  async resume(): Promise<void> {
    const manager = await this.userManager();
    const user = await manager?.getUser();
    if (user && !user.expired) {
      this.adopt(user);
    }
  }

  async signOut(): Promise<void> {
    const manager = await this.userManager();
    await manager?.removeUser();
  }

  private async userManager(): Promise<UserManager | null> {
    if (this.manager) {
      return this.manager;
    }
    const { oidc } = await this.clientConfig();
    if (!oidc) {
      return null;
    }
    const manager = new UserManager({
      authority: oidc.issuer,
      client_id: oidc.clientId,
      redirect_uri: `${location.origin}${CALLBACK_PATH}`,
      response_type: 'code',
      scope: oidc.scopes,
      // Renewed with the refresh token a minute before expiry; the page never sees a password.
      automaticSilentRenew: true,
      accessTokenExpiringNotificationTimeInSeconds: 60,
      userStore: new WebStorageStateStore({ store: sessionStorage }),
    });
    manager.events.addUserLoaded((user) => {
      this.adopt(user);
    });
    this.manager = manager;
    this.customerClaim = oidc.customerClaim;
    return manager;
  }

  private customerClaim = 'sub';

  /** Makes `user`'s ID token the session's token, and the open socket's. */
  private adopt(user: User): string {
    const customerId = String(user.profile[this.customerClaim] ?? '');
    const token = user.id_token ?? '';
    this.session.signIn({ customerId, token });
    this.live.renew(token);
    return customerId;
  }
}
