/** Human sentences for events, shown in the timeline next to the topic name and time. */
import { Envelope } from './models';

const DOCUMENT_NAMES: Record<string, string> = {
  passport: 'passport',
  national_id: 'national ID card',
  drivers_license: "driver's licence",
  utility_bill: 'utility bill',
};

export const DOCUMENT_TYPES = Object.entries(DOCUMENT_NAMES).map(([value, label]) => ({
  value,
  label: label.charAt(0).toUpperCase() + label.slice(1),
}));

export const COVERAGE_TYPES = [
  { value: 'life', label: 'Life' },
  { value: 'health', label: 'Health' },
  { value: 'auto', label: 'Auto' },
  { value: 'home', label: 'Home' },
];

const STEP_NAMES: Record<string, string> = {
  'submit-user-info': 'your details',
  'process-documents': 'the document upload',
  'perform-kyc': 'the identity check',
  'recommend-policy': 'the policy recommendation',
  'complete-workflow': 'the policy acceptance',
};

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

export function describeEvent(event: Envelope): string {
  const data = event.data ?? {};
  switch (event.type) {
    case 'user-info-submitted':
      return 'Your details were received and your application was opened.';
    case 'documents-processed': {
      const name = DOCUMENT_NAMES[text(data['documentType'])] ?? 'document';
      return `Your ${name} was uploaded and stored safely.`;
    }
    case 'kyc-verified':
      switch (text(data['decision'])) {
        case 'APPROVED':
          return 'Your identity was verified.';
        case 'REJECTED':
          return 'Your identity could not be verified.';
        default:
          return 'Your identity check needs a manual review by our team.';
      }
    case 'policy-recommended': {
      const product = text(data['productName']) || 'a policy';
      const premium = text(data['monthlyPremium']);
      return premium
        ? `We recommend ${product} at ${premium} a month.`
        : `We recommend ${product}.`;
    }
    case 'workflow-completed': {
      const product = text(data['productName']);
      return product
        ? `You accepted ${product}. Your onboarding is complete.`
        : 'You accepted your policy. Your onboarding is complete.';
    }
    case 'workflow-errors': {
      const step = STEP_NAMES[text(data['step'])] ?? 'a step';
      const message = text(data['message']);
      return message ? `Something went wrong with ${step}: ${message}` : `Something went wrong with ${step}.`;
    }
    default:
      return 'Something happened.';
  }
}
