//! The domain: pure values and rules of onboarding, with no I/O.

pub mod customer;
pub mod document;
pub mod event;
pub mod ids;
pub mod kyc;
pub mod money;
pub mod policy;
pub mod validation;
pub mod workflow;
