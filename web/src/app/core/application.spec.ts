import { applicationFrom } from './application';
import { formErrors } from './field-errors';
import { describeEvent } from './describe';
import { Envelope, Topic } from './models';

function event(sequence: number, type: Topic, data: Record<string, unknown>): Envelope {
  return {
    id: `id-${sequence}`,
    type,
    version: 1,
    occurredAt: '2026-01-01T10:00:00Z',
    customerId: 'c',
    applicationId: 'app-1',
    correlationId: 'x',
    sequence,
    data,
  };
}

describe('applicationFrom', () => {
  it('follows the status and the recommendation through the events, skipping errors', () => {
    const view = applicationFrom([
      event(1, 'user-info-submitted', { status: 'USER_INFO_SUBMITTED' }),
      event(2, 'documents-processed', { status: 'DOCUMENTS_PROCESSED' }),
      event(3, 'kyc-verified', { status: 'KYC_VERIFIED', decision: 'APPROVED' }),
      event(4, 'policy-recommended', { status: 'POLICY_RECOMMENDED', policyId: 'p-1', productName: 'Standard Life', monthlyPremium: '49.90', reasons: ['fits'] }),
      event(5, 'workflow-errors', { step: 'complete-workflow', code: 'validation-error', message: 'x' }),
    ]);
    expect(view.applicationId).toBe('app-1');
    expect(view.status).toBe('POLICY_RECOMMENDED');
    expect(view.kycDecision).toBe('APPROVED');
    expect(view.recommendation?.policyId).toBe('p-1');
  });

  it('starts with no application', () => {
    expect(applicationFrom([])).toEqual({ applicationId: null, status: 'STARTED', recommendation: null, kycDecision: null });
  });
});

describe('formErrors', () => {
  it('puts each known field error next to its field and the rest in a general message', () => {
    const errors = formErrors(
      {
        status: 422,
        detail: '2 invalid field(s): email, extra',
        errors: [
          { name: 'email', code: 'invalid_format', reason: 'must be an e-mail address' },
          { name: 'extra', code: 'unknown_field', reason: 'is not allowed' },
        ],
      },
      ['email', 'phoneNumber'],
    );
    expect(errors.fields).toEqual({ email: 'must be an e-mail address' });
    expect(errors.general).toContain('extra: is not allowed');
  });

  it('shows a problem without field errors as a general message', () => {
    expect(formErrors({ status: 409, detail: 'already done' }, ['email'])).toEqual({ fields: {}, general: 'already done' });
  });
});

describe('describeEvent', () => {
  it('says what happened in a sentence, without ids', () => {
    expect(describeEvent(event(1, 'documents-processed', { documentType: 'national_id' }))).toBe(
      'Your national ID card was uploaded and stored safely.',
    );
    expect(describeEvent(event(2, 'kyc-verified', { decision: 'REVIEW' }))).toContain('manual review');
    expect(describeEvent(event(3, 'workflow-errors', { step: 'perform-kyc', message: 'kyc rejected' }))).toBe(
      'Something went wrong with the identity check: kyc rejected',
    );
  });
});
