import { Envelope, Topic } from '../core/models';
import { filterEvents } from './recent-events.component';
import { formatDuration } from './stalled-applications.component';

function event(n: number, customerId: string, type: Topic): Envelope {
  return {
    id: `id-${n}`,
    type,
    version: 1,
    occurredAt: '2026-01-01T10:00:00Z',
    customerId,
    applicationId: 'app-1',
    correlationId: 'x',
    sequence: n,
    data: {},
  };
}

describe('filterEvents', () => {
  const events = [
    event(1, 'alice', 'user-info-submitted'),
    event(2, 'bob', 'kyc-verified'),
    event(3, 'alice-2', 'workflow-errors'),
  ];

  it('keeps everything without a filter', () => {
    expect(filterEvents(events, '  ')).toHaveLength(3);
  });

  it('matches the customer or the topic, in any case', () => {
    expect(filterEvents(events, 'ALICE').map((e) => e.id)).toEqual(['id-1', 'id-3']);
    expect(filterEvents(events, 'kyc').map((e) => e.id)).toEqual(['id-2']);
    expect(filterEvents(events, 'nobody')).toEqual([]);
  });
});

describe('formatDuration', () => {
  it('shows the two largest units', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(95)).toBe('1m 35s');
    expect(formatDuration(7260)).toBe('2h 1m');
    expect(formatDuration(90061)).toBe('1d 1h');
  });
});
