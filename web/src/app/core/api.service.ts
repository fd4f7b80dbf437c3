/** Calls to the Onboard HTTP API; every failure becomes a `Problem` (RFC 9457). */
import { HttpClient, HttpErrorResponse, HttpHeaders } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { Observable, catchError, map, throwError } from 'rxjs';
import { Envelope, Problem } from './models';
import { SessionService } from './session.service';

export interface UserInfo {
  email: string;
  firstName: string;
  lastName: string;
  dateOfBirth: string;
  phoneNumber: string;
}

export interface DocumentForm {
  documentType: string;
  documentNumber: string;
  fullName: string;
  expiryDate: string;
  file: File;
}

export interface StepAnswer {
  applicationId: string;
  status: string;
  [more: string]: unknown;
}

@Injectable({ providedIn: 'root' })
export class ApiService {
  private readonly http = inject(HttpClient);
  private readonly session = inject(SessionService);

  devToken(customerId: string): Observable<{ customerId: string; token: string }> {
    return this.http
      .post<{ customerId: string; token: string }>('/dev/token', { customerId })
      .pipe(catchError(toProblem));
  }

  submitUserInfo(info: UserInfo): Observable<StepAnswer> {
    return this.post('/v1/customers', info);
  }

  uploadDocument(applicationId: string, form: DocumentForm): Observable<StepAnswer> {
    const body = new FormData();
    body.set('documentType', form.documentType);
    body.set('documentNumber', form.documentNumber);
    body.set('fullName', form.fullName);
    body.set('expiryDate', form.expiryDate);
    body.set('file', form.file, form.file.name);
    return this.post(`/v1/applications/${encodeURIComponent(applicationId)}/documents`, body);
  }

  performKyc(applicationId: string): Observable<StepAnswer> {
    return this.post(`/v1/applications/${encodeURIComponent(applicationId)}/kyc`, {});
  }

  recommendPolicy(applicationId: string, coverageType: string, monthlyBudget: number | null): Observable<StepAnswer> {
    const body: Record<string, unknown> = { coverageType };
    if (monthlyBudget !== null) {
      body['monthlyBudget'] = monthlyBudget;
    }
    return this.post(`/v1/applications/${encodeURIComponent(applicationId)}/policy-recommendation`, body);
  }

  complete(applicationId: string, policyId: string): Observable<StepAnswer> {
    return this.post(`/v1/applications/${encodeURIComponent(applicationId)}/complete`, { policyId });
  }

  /** Every stored event of the customer, following `nextAfter` pages. */
  events(customerId: string, after?: string): Observable<{ events: Envelope[]; nextAfter: string | null }> {
    const params: Record<string, string> = { limit: '500' };
    if (after) {
      params['after'] = after;
    }
    return this.http
      .get<{ events: Envelope[]; nextAfter: string | null }>(
        `/v1/customers/${encodeURIComponent(customerId)}/events`,
        { headers: this.auth(), params },
      )
      .pipe(catchError(toProblem));
  }

  private post(url: string, body: unknown): Observable<StepAnswer> {
    // A fresh key per submission: a network retry of the same request cannot publish twice.
    const headers = this.auth().set('Idempotency-Key', crypto.randomUUID());
    return this.http.post<StepAnswer>(url, body, { headers }).pipe(catchError(toProblem));
  }

  private auth(): HttpHeaders {
    const token = this.session.session()?.token ?? '';
    return new HttpHeaders({ Authorization: `Bearer ${token}` });
  }
}

/** The operator endpoints, authenticated with the management token. */
@Injectable({ providedIn: 'root' })
export class OpsApiService {
  private readonly http = inject(HttpClient);

  overview(managementToken: string): Observable<OpsOverview> {
    return this.http
      .get<OpsOverview>('/v1/ops/overview', {
        headers: new HttpHeaders({ Authorization: `Bearer ${managementToken}` }),
      })
      .pipe(catchError(toProblem));
  }

  /** Applications stuck in one status past their threshold (`GET /v1/ops/stalls`). */
  stalls(managementToken: string): Observable<StalledApplication[]> {
    return this.http
      .get<{ stalled: StalledApplication[] }>('/v1/ops/stalls', { headers: bearer(managementToken) })
      .pipe(
        map((body) => body.stalled),
        catchError(toProblem),
      );
  }

  /** Records of the `.dlq` topics with their reason and replays (`GET /v1/ops/dead-letters`). */
  deadLetters(managementToken: string): Observable<DeadLetter[]> {
    return this.http
      .get<{ deadLetters: DeadLetter[] }>('/v1/ops/dead-letters', { headers: bearer(managementToken) })
      .pipe(
        map((body) => body.deadLetters),
        catchError(toProblem),
      );
  }

  /** Puts records back on their topic; the answer says per record what happened. */
  replay(managementToken: string, request: ReplayRequest): Observable<ReplayResult[]> {
    return this.http
      .post<{ results: ReplayResult[] }>('/v1/ops/dead-letters/replay', request, { headers: bearer(managementToken) })
      .pipe(
        map((body) => body.results),
        catchError(toProblem),
      );
  }

  /** The Prometheus text of `/metrics` (management token unless public), as name{labels} → value. */
  metrics(managementToken: string): Observable<Map<string, number>> {
    return this.http
      .get('/metrics', {
        responseType: 'text',
        headers: new HttpHeaders({ Authorization: `Bearer ${managementToken}` }),
      })
      .pipe(map(parseMetrics), catchError(toProblem));
  }
}

function bearer(token: string): HttpHeaders {
  return new HttpHeaders({ Authorization: `Bearer ${token}` });
}

export interface StalledApplication {
  applicationId: string;
  customerId: string;
  status: string;
  since: string;
  stalledForSeconds: number;
  thresholdSeconds: number;
}

export interface DeadLetter {
  id: string;
  topic: string;
  partition: number;
  offset: number;
  originTopic: string | null;
  reason: string | null;
  attempts: number | null;
  eventId: string | null;
  eventType: string | null;
  deadLetteredAt: string | null;
  replays: { replayedAt: string; replayedBy: string; reason: string; replayedTo: string; forced: boolean }[];
}

export interface ReplayRequest {
  ids: string[];
  reason: string;
  by: string;
  force: boolean;
}

export interface ReplayResult {
  id: string;
  outcome: 'replayed' | 'already-replayed' | 'refused' | 'failed';
  replayedTo?: string;
  detail?: string;
}

export interface OpsOverview {
  recentEvents: Envelope[];
  connections: {
    connectionId: string;
    customerId: string;
    nodeId: string;
    connectedAt: string;
    lastSeenAt: string;
    expiresAt: string;
  }[];
  consumerLag: { topic: string; partition: number; committed: number; end: number; lag: number }[];
  deadLetters: { topic: string; count: number }[];
  /** Operator alerts e-mailed and held back over the per-minute budget (this process). */
  operatorAlerts?: { perMinute: number; sent: number; suppressed: number };
}

export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) {
      continue;
    }
    const space = line.lastIndexOf(' ');
    const value = Number(line.slice(space + 1));
    if (space > 0 && Number.isFinite(value)) {
      out.set(line.slice(0, space), value);
    }
  }
  return out;
}

/** Any HTTP failure as a Problem: the server's problem+json, or one made for network errors. */
export function toProblem(error: unknown): Observable<never> {
  if (error instanceof HttpErrorResponse) {
    const body = error.error;
    if (body && typeof body === 'object' && typeof body.status === 'number') {
      return throwError(() => body as Problem);
    }
    if (typeof body === 'string' && body.trim().startsWith('{')) {
      try {
        const parsed = JSON.parse(body) as Problem;
        if (typeof parsed.status === 'number') {
          return throwError(() => parsed);
        }
      } catch {
        /* not JSON after all */
      }
    }
    const detail =
      error.status === 0
        ? 'The server cannot be reached. Check your connection and try again.'
        : `The server answered ${error.status} ${error.statusText}.`;
    return throwError(() => ({ status: error.status, detail }) satisfies Problem);
  }
  return throwError(() => ({ status: 0, detail: String(error) }) satisfies Problem);
}
