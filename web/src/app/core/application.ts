/** The application's progress as the page knows it: derived from the timeline's events. */
import { ApplicationStatus, Envelope } from './models';

export interface Recommendation {
  policyId: string;
  productName: string;
  coverageType: string;
  monthlyPremium: string;
  reasons: string[];
}

export interface ApplicationView {
  applicationId: string | null;
  status: ApplicationStatus;
  recommendation: Recommendation | null;
  kycDecision: string | null;
}

const RANK: Record<ApplicationStatus, number> = {
  STARTED: 0,
  USER_INFO_SUBMITTED: 1,
  DOCUMENTS_PROCESSED: 2,
  KYC_VERIFIED: 3,
  KYC_REJECTED: 3,
  KYC_REVIEW: 3,
  POLICY_RECOMMENDED: 4,
  COMPLETED: 5,
};

export function isStatus(value: unknown): value is ApplicationStatus {
  return typeof value === 'string' && value in RANK;
}

/** How far along a status is; a step's answer and its event never move the wizard back. */
export function rank(status: ApplicationStatus): number {
  return RANK[status];
}

/** The state of the customer's latest application, read from its events in sequence order. */
export function applicationFrom(events: readonly Envelope[]): ApplicationView {
  const view: ApplicationView = {
    applicationId: null,
    status: 'STARTED',
    recommendation: null,
    kycDecision: null,
  };
  for (const event of events) {
    if (event.type === 'workflow-errors' || !event.applicationId) {
      continue;
    }
    if (event.type === 'user-info-submitted' && event.applicationId !== view.applicationId) {
      // A new application starts over.
      view.recommendation = null;
      view.kycDecision = null;
    }
    view.applicationId = event.applicationId;
    const status = event.data['status'];
    if (isStatus(status)) {
      view.status = status;
    }
    if (event.type === 'kyc-verified') {
      view.kycDecision = typeof event.data['decision'] === 'string' ? event.data['decision'] : null;
    }
    if (event.type === 'policy-recommended') {
      view.recommendation = recommendationFrom(event.data);
    }
  }
  return view;
}

export function recommendationFrom(data: Record<string, unknown>): Recommendation | null {
  const policyId = data['policyId'];
  if (typeof policyId !== 'string') {
    return null;
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    policyId,
    productName: str(data['productName']),
    coverageType: str(data['coverageType']),
    monthlyPremium: str(data['monthlyPremium']),
    reasons: Array.isArray(data['reasons']) ? data['reasons'].filter((r): r is string => typeof r === 'string') : [],
  };
}
