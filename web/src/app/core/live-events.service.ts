/**
 * The customer's live event feed over the gateway's WebSocket: connects, reconnects with
 * exponential backoff, resumes after the last event it holds so nothing is missed, and keeps
 * the timeline in `sequence` order without duplicates.
 */
import { Injectable, InjectionToken, OnDestroy, inject } from '@angular/core';
import { BehaviorSubject, Observable, distinctUntilChanged } from 'rxjs';
import { Envelope, ServerFrame } from './models';

/** What the page shows about the connection. */
export type ConnectionState = 'idle' | 'connecting' | 'live' | 'reconnecting';

/** The part of the browser's WebSocket the service uses (a fake stands in for it in tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

export const SOCKET_FACTORY = new InjectionToken<SocketFactory>('SOCKET_FACTORY', {
  providedIn: 'root',
  factory: () => (url: string) => new WebSocket(url),
});

export interface LiveEventsConfig {
  /** First reconnect delay; doubled after each failed attempt. */
  baseDelayMs: number;
  /** Upper bound of the reconnect delay. */
  maxDelayMs: number;
  /** How long a gap in `sequence` may last before the service asks the server to resume. */
  gapWaitMs: number;
  /** 0..1; the delay is scaled into [delay/2, delay] so many tabs do not reconnect at once. */
  random: () => number;
  /** The gateway's base URL (`ws://host`); defaults to the page's own host. */
  baseUrl?: string;
}

export const LIVE_EVENTS_CONFIG = new InjectionToken<LiveEventsConfig>('LIVE_EVENTS_CONFIG', {
  providedIn: 'root',
  factory: () => ({ baseDelayMs: 500, maxDelayMs: 15_000, gapWaitMs: 3_000, random: Math.random }),
});

/** The reconnect the service is waiting for, shown while reconnecting. */
export interface RetryInfo {
  attempt: number;
  delayMs: number;
}

const OPEN = 1;

@Injectable({ providedIn: 'root' })
export class LiveEventsService implements OnDestroy {
  private readonly factory = inject(SOCKET_FACTORY);
  private readonly config = inject(LIVE_EVENTS_CONFIG);

  private readonly stateSubject = new BehaviorSubject<ConnectionState>('idle');
  private readonly eventsSubject = new BehaviorSubject<readonly Envelope[]>([]);
  private readonly retrySubject = new BehaviorSubject<RetryInfo | null>(null);

  /** live / reconnecting / connecting / idle. */
  readonly state$: Observable<ConnectionState> = this.stateSubject.pipe(distinctUntilChanged());
  /** The timeline, in `sequence` order, each event once. */
  readonly events$: Observable<readonly Envelope[]> = this.eventsSubject.asObservable();
  /** The pending reconnect, or null. */
  readonly retry$: Observable<RetryInfo | null> = this.retrySubject.asObservable();

  private customerId: string | null = null;
  private token: string | null = null;
  private socket: SocketLike | null = null;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private gapTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeat: ReturnType<typeof setInterval> | null = null;
  private pingId = 0;
  private unansweredPing = false;

  private readonly bySequence = new Map<number, Envelope>();
  private readonly ids = new Set<string>();
  /** Highest n such that events 1..n are all held: resume starts after it. */
  private contiguous = 0;

  get state(): ConnectionState {
    return this.stateSubject.value;
  }

  get events(): readonly Envelope[] {
    return this.eventsSubject.value;
  }

  /** Starts following a customer; a different customer clears the timeline first. */
  start(customerId: string, token: string): void {
    if (this.customerId === customerId && this.token === token && this.state !== 'idle') {
      return;
    }
    if (this.customerId !== customerId) {
      this.clear();
    }
    this.stop();
    this.customerId = customerId;
    this.token = token;
    this.attempt = 0;
    this.open('connecting');
  }

  /**
   * A renewed token of the same customer: the open socket gets it as an `auth` action (so the
   * server does not close the session with 4401 when the old one expires), and reconnects use it.
   */
  renew(token: string): void {
    if (!token || token === this.token || this.customerId === null) {
      return;
    }
    this.token = token;
    this.send({ action: 'auth', token });
  }

  /** Stops following (sign-out): closes the socket and cancels every timer. */
  stop(): void {
    this.cancelTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onmessage = null;
      socket.onerror = null;
      socket.onopen = null;
      socket.close(1000, 'bye');
    }
    this.retrySubject.next(null);
    this.stateSubject.next('idle');
  }

  /** Forgets the timeline (another customer signs in). */
  clear(): void {
    this.bySequence.clear();
    this.ids.clear();
    this.contiguous = 0;
    this.eventsSubject.next([]);
  }

  /** Adds events read over HTTP (`GET /v1/customers/{id}/events`); duplicates are dropped. */
  seed(events: readonly Envelope[]): void {
    let changed = false;
    for (const event of events) {
      changed = this.accept(event) || changed;
    }
    if (changed) {
      this.publish();
    }
  }

  ngOnDestroy(): void {
    this.stop();
  }

  private url(): string {
    const base =
      this.config.baseUrl ??
      `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`;
    const query = new URLSearchParams({ customerId: this.customerId ?? '', token: this.token ?? '' });
    return `${base}/ws?${query}`;
  }

  private open(state: ConnectionState): void {
    this.stateSubject.next(state);
    let socket: SocketLike;
    try {
      socket = this.factory(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = (message) => this.onFrame(socket, message.data);
    socket.onclose = () => this.onClose(socket);
    socket.onerror = () => undefined; // a close always follows; reconnecting happens there
  }

  private onClose(socket: SocketLike): void {
    if (socket !== this.socket) {
      return;
    }
    this.socket = null;
    this.cancelTimers();
    this.scheduleReconnect();
  }

  /** Waits base·2^attempt (capped, with jitter into its upper half), then reconnects. */
  private scheduleReconnect(): void {
    const ceiling = Math.min(this.config.maxDelayMs, this.config.baseDelayMs * 2 ** this.attempt);
    const delayMs = Math.round(ceiling / 2 + (ceiling / 2) * this.config.random());
    this.attempt += 1;
    this.stateSubject.next('reconnecting');
    this.retrySubject.next({ attempt: this.attempt, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open('reconnecting');
    }, delayMs);
  }

  private onFrame(socket: SocketLike, raw: unknown): void {
    if (socket !== this.socket || typeof raw !== 'string') {
      return;
    }
    let frame: ServerFrame;
    try {
      frame = JSON.parse(raw) as ServerFrame;
    } catch {
      return;
    }
    switch (frame.type) {
      case 'welcome':
        this.attempt = 0;
        this.retrySubject.next(null);
        this.stateSubject.next('live');
        this.startHeartbeat(frame.heartbeatSeconds);
        // Catch up on whatever was stored while away (or before this page ever connected).
        if (frame.lastSequence > this.contiguous || this.highest() > this.contiguous) {
          this.resume();
        }
        break;
      case 'event':
        if (this.accept(frame.event)) {
          this.publish();
          this.send({ action: 'ack', eventId: frame.event.id });
        }
        this.watchForGap();
        break;
      case 'pong':
        this.unansweredPing = false;
        break;
      case 'error':
        // The server no longer knows our cursor (a wiped data directory): replay everything;
        // the events already shown are dropped as duplicates.
        if (frame.code === 'unknown_event') {
          this.send({ action: 'resume' });
        }
        break;
      default:
        break;
    }
  }

  /** Holds the event unless already held; true when the timeline changed. */
  private accept(event: Envelope): boolean {
    if (!event || typeof event.sequence !== 'number' || typeof event.id !== 'string') {
      return false;
    }
    // The gateway only sends the signed-in customer's events; this guards the HTTP seed too.
    if (this.customerId !== null && event.customerId !== this.customerId) {
      return false;
    }
    if (this.ids.has(event.id) || this.bySequence.has(event.sequence)) {
      return false;
    }
    this.ids.add(event.id);
    this.bySequence.set(event.sequence, event);
    while (this.bySequence.has(this.contiguous + 1)) {
      this.contiguous += 1;
    }
    return true;
  }

  private publish(): void {
    const sorted = [...this.bySequence.values()].sort((a, b) => a.sequence - b.sequence);
    this.eventsSubject.next(sorted);
  }

  private highest(): number {
    let max = 0;
    for (const sequence of this.bySequence.keys()) {
      max = Math.max(max, sequence);
    }
    return max;
  }

  /** Asks for every stored event after the last one of the gap-free run held. */
  private resume(): void {
    const after = this.bySequence.get(this.contiguous)?.id;
    this.send(after ? { action: 'resume', after } : { action: 'resume' });
  }

  /** A later event arrived before an earlier one: give the earlier one a moment, then resume. */
  private watchForGap(): void {
    if (this.gapTimer || this.highest() <= this.contiguous) {
      return;
    }
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      if (this.highest() > this.contiguous) {
        this.resume();
      }
    }, this.config.gapWaitMs);
  }

  /** Pings every heartbeat; a ping still unanswered a heartbeat later means a dead link. */
  private startHeartbeat(seconds: number): void {
    if (this.heartbeat) {
      clearInterval(this.heartbeat);
    }
    this.unansweredPing = false;
    const periodMs = Math.max(1, Number.isFinite(seconds) ? seconds : 30) * 1000;
    this.heartbeat = setInterval(() => {
      const socket = this.socket;
      if (!socket) {
        return;
      }
      if (this.unansweredPing) {
        socket.close(4000, 'heartbeat timeout');
        this.onClose(socket);
        return;
      }
      this.unansweredPing = true;
      this.pingId += 1;
      this.send({ action: 'ping', id: this.pingId });
    }, periodMs);
  }

  private send(message: Record<string, unknown>): void {
    if (this.socket && this.socket.readyState === OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  private cancelTimers(): void {
    if (this.reconnectTimer) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    if (this.gapTimer) {
      clearTimeout(this.gapTimer);
      this.gapTimer = null;
    }
    if (this.heartbeat) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }
}
