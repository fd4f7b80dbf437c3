import { TestBed } from '@angular/core/testing';
import {
  LIVE_EVENTS_CONFIG,
  LiveEventsConfig,
  LiveEventsService,
  SOCKET_FACTORY,
  SocketLike,
} from './live-events.service';
import { Envelope, Topic } from './models';

/** A WebSocket stand-in the test drives: it records what the service sends. */
class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  readonly sent: Record<string, unknown>[] = [];
  closedByClient = false;

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(): void {
    this.closedByClient = true;
    this.readyState = 3;
  }

  /** The server accepts: open, then the welcome frame. */
  welcome(lastSequence: number, heartbeatSeconds = 30): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
    this.frame({ type: 'welcome', connectionId: 'c', customerId: 'cust-1', lastSequence, heartbeatSeconds });
  }

  frame(value: unknown): void {
    this.onmessage?.(new MessageEvent('message', { data: JSON.stringify(value) }));
  }

  event(event: Envelope): void {
    this.frame({ type: 'event', event });
  }

  /** The connection drops (server restart, network loss). */
  drop(): void {
    this.readyState = 3;
    this.onclose?.(new CloseEvent('close', { code: 1006 }));
  }

  actions(name: string): Record<string, unknown>[] {
    return this.sent.filter((m) => m['action'] === name);
  }
}

const TOPICS: Topic[] = ['user-info-submitted', 'documents-processed', 'kyc-verified', 'policy-recommended', 'workflow-completed'];

function envelope(sequence: number, customerId = 'cust-1'): Envelope {
  return {
    id: `00000000-0000-7000-8000-${String(sequence).padStart(12, '0')}`,
    type: TOPICS[(sequence - 1) % TOPICS.length],
    version: 1,
    occurredAt: '2026-01-01T10:00:00Z',
    customerId,
    applicationId: 'app-1',
    correlationId: 'corr',
    sequence,
    data: {},
  };
}

describe('LiveEventsService', () => {
  let sockets: FakeSocket[];
  let service: LiveEventsService;
  const config: LiveEventsConfig = {
    baseDelayMs: 500,
    maxDelayMs: 4_000,
    gapWaitMs: 3_000,
    random: () => 1, // no jitter: delays are exact
    baseUrl: 'ws://onboard.test',
  };

  function latest(): FakeSocket {
    return sockets[sockets.length - 1];
  }

  function sequences(): number[] {
    return service.events.map((e) => e.sequence);
  }

  beforeEach(() => {
    vi.useFakeTimers();
    sockets = [];
    TestBed.configureTestingModule({
      providers: [
        { provide: SOCKET_FACTORY, useValue: (url: string) => sockets[sockets.push(new FakeSocket(url)) - 1] },
        { provide: LIVE_EVENTS_CONFIG, useValue: config },
      ],
    });
    service = TestBed.inject(LiveEventsService);
  });

  afterEach(() => {
    service.stop();
    vi.useRealTimers();
  });

  it('connects with the customer id and token and is live after the welcome', () => {
    service.start('cust-1', 'tok en');
    expect(service.state).toBe('connecting');
    expect(sockets).toHaveLength(1);
    const url = new URL(latest().url);
    expect(url.origin + url.pathname).toBe('ws://onboard.test/ws');
    expect(url.searchParams.get('customerId')).toBe('cust-1');
    expect(url.searchParams.get('token')).toBe('tok en');
    latest().welcome(0);
    expect(service.state).toBe('live');
    expect(latest().actions('resume')).toHaveLength(0);
  });

  it('keeps events in sequence order and shows each once', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().event(envelope(2));
    latest().event(envelope(1));
    latest().event(envelope(2)); // the same event again
    latest().event({ ...envelope(1), id: 'another-id-same-sequence' });
    latest().event(envelope(3));
    expect(sequences()).toEqual([1, 2, 3]);
    expect(latest().actions('ack').map((a) => a['eventId'])).toEqual([envelope(2).id, envelope(1).id, envelope(3).id]);
  });

  it("ignores another customer's events", () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().event(envelope(1, 'someone-else'));
    expect(service.events).toEqual([]);
  });

  it('catches up from the start when the server already stored events', () => {
    service.start('cust-1', 't');
    latest().welcome(2);
    expect(latest().actions('resume')).toEqual([{ action: 'resume' }]);
  });

  it('reconnects with exponential backoff, capped, while the server is away', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().drop();
    expect(service.state).toBe('reconnecting');

    const delays: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = sockets.length;
      let waited = 0;
      while (sockets.length === before) {
        vi.advanceTimersByTime(100);
        waited += 100;
        expect(waited).toBeLessThanOrEqual(10_000);
      }
      delays.push(waited);
      expect(service.state).toBe('reconnecting');
      latest().drop(); // still down: the connection attempt fails
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 4000]);
  });

  it('spreads reconnects with jitter into the upper half of the delay', () => {
    TestBed.inject(LIVE_EVENTS_CONFIG).random = () => 0;
    try {
      service.start('cust-1', 't');
      latest().drop();
      vi.advanceTimersByTime(249);
      expect(sockets).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(sockets).toHaveLength(2);
    } finally {
      TestBed.inject(LIVE_EVENTS_CONFIG).random = () => 1;
    }
  });

  it('starts the backoff over after a successful reconnect', () => {
    service.start('cust-1', 't');
    latest().drop();
    vi.advanceTimersByTime(500);
    latest().drop();
    vi.advanceTimersByTime(1000);
    expect(sockets).toHaveLength(3);
    latest().welcome(0);
    expect(service.state).toBe('live');
    latest().drop();
    vi.advanceTimersByTime(499);
    expect(sockets).toHaveLength(3);
    vi.advanceTimersByTime(1);
    expect(sockets).toHaveLength(4);
  });

  it('resumes after the last event it holds, and replayed events are not shown twice', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().event(envelope(1));
    latest().event(envelope(2));
    latest().drop();
    vi.advanceTimersByTime(500);

    latest().welcome(4); // two events were stored while the page was away
    expect(latest().actions('resume')).toEqual([{ action: 'resume', after: envelope(2).id }]);
    // The server replays after event 2; a duplicate of 2 (from a racing live push) is dropped.
    latest().event(envelope(2));
    latest().event(envelope(3));
    latest().event(envelope(4));
    latest().frame({ type: 'resumed', after: envelope(2).id, replayed: 2, lastSequence: 4 });
    expect(sequences()).toEqual([1, 2, 3, 4]);
  });

  it('asks for a missing event when a gap does not close by itself', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().event(envelope(1));
    latest().event(envelope(3));
    expect(sequences()).toEqual([1, 3]);
    vi.advanceTimersByTime(2_999);
    expect(latest().actions('resume')).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(latest().actions('resume')).toEqual([{ action: 'resume', after: envelope(1).id }]);
    latest().event(envelope(2));
    latest().event(envelope(3));
    expect(sequences()).toEqual([1, 2, 3]);
  });

  it('does not ask when the gap closes in time', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().event(envelope(2));
    latest().event(envelope(1));
    vi.advanceTimersByTime(5_000);
    expect(latest().actions('resume')).toHaveLength(0);
  });

  it('resumes after a gap on reconnect from the last gap-free event', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().event(envelope(1));
    latest().event(envelope(3));
    latest().drop();
    vi.advanceTimersByTime(500);
    latest().welcome(3);
    expect(latest().actions('resume')).toEqual([{ action: 'resume', after: envelope(1).id }]);
  });

  it('replays everything when the server no longer knows the resume point', () => {
    service.start('cust-1', 't');
    service.seed([envelope(1)]);
    latest().welcome(1);
    latest().frame({ type: 'error', code: 'unknown_event', message: 'unknown event' });
    expect(latest().actions('resume')).toEqual([{ action: 'resume' }]);
  });

  it('merges events read over HTTP with live ones without duplicates', () => {
    service.start('cust-1', 't');
    service.seed([envelope(1), envelope(2)]);
    latest().welcome(2);
    expect(latest().actions('resume')).toHaveLength(0); // nothing to catch up on
    latest().event(envelope(2));
    latest().event(envelope(3));
    expect(sequences()).toEqual([1, 2, 3]);
  });

  it('pings every heartbeat and reconnects when a ping goes unanswered', () => {
    service.start('cust-1', 't');
    latest().welcome(0, 10);
    vi.advanceTimersByTime(10_000);
    expect(latest().actions('ping')).toHaveLength(1);
    latest().frame({ type: 'pong', id: 1 });
    vi.advanceTimersByTime(10_000);
    expect(latest().actions('ping')).toHaveLength(2);
    // no pong this time: the link is dead
    vi.advanceTimersByTime(10_000);
    expect(latest().closedByClient).toBe(true);
    expect(service.state).toBe('reconnecting');
    vi.advanceTimersByTime(500);
    expect(sockets).toHaveLength(2);
  });

  it('stops for good on sign-out', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    const socket = latest();
    service.stop();
    expect(socket.closedByClient).toBe(true);
    expect(service.state).toBe('idle');
    socket.drop();
    vi.advanceTimersByTime(60_000);
    expect(sockets).toHaveLength(1);
  });

  it('forgets the timeline when another customer signs in', () => {
    service.start('cust-1', 't');
    latest().welcome(0);
    latest().event(envelope(1));
    service.start('cust-2', 't2');
    expect(service.events).toEqual([]);
    expect(new URL(latest().url).searchParams.get('customerId')).toBe('cust-2');
  });

  it('hands a renewed token to the open socket and reconnects with it after a drop', () => {
    service.start('cust-1', 'old');
    latest().welcome(0);
    service.renew('new');
    expect(latest().actions('auth')).toEqual([{ action: 'auth', token: 'new' }]);
    service.renew('new'); // the same token again sends nothing
    expect(latest().actions('auth')).toHaveLength(1);
    latest().drop();
    vi.advanceTimersByTime(config.baseDelayMs);
    expect(new URL(latest().url).searchParams.get('token')).toBe('new');
  });
});
