/** Shapes of the Onboard API and WebSocket protocol (see /openapi.json and docs/websocket.md). */

export type Topic =
  | 'user-info-submitted'
  | 'documents-processed'
  | 'kyc-verified'
  | 'policy-recommended'
  | 'workflow-completed'
  | 'workflow-errors';

/** The event envelope: ids, statuses and decisions, never PII. */
export interface Envelope {
  id: string;
  type: Topic;
  version: number;
  occurredAt: string;
  customerId: string;
  applicationId?: string;
  correlationId: string;
  /** The customer's gap-free event counter, from 1. */
  sequence: number;
  data: Record<string, unknown>;
}

/** An RFC 9457 problem, with the invalid fields named in `errors`. */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail: string;
  code?: string;
  errors?: { name: string; code: string; reason: string }[];
}

export type ServerFrame =
  | {
      type: 'welcome';
      connectionId: string;
      customerId: string;
      lastSequence: number;
      heartbeatSeconds: number;
      tokenExpiresAt?: number;
    }
  | { type: 'event'; event: Envelope }
  | { type: 'pong'; id?: unknown }
  | { type: 'resumed'; after?: string | null; replayed: number; lastSequence: number }
  | { type: 'acked'; eventId: string }
  | { type: 'authenticated'; tokenExpiresAt: number }
  | { type: 'error'; code: string; message: string };

export type ApplicationStatus =
  | 'STARTED'
  | 'USER_INFO_SUBMITTED'
  | 'DOCUMENTS_PROCESSED'
  | 'KYC_VERIFIED'
  | 'KYC_REJECTED'
  | 'KYC_REVIEW'
  | 'POLICY_RECOMMENDED'
  | 'COMPLETED';
