//! A user pool in moto's Cognito: pool, app clients and a user with a permanent password, and
//! the tokens `AdminInitiateAuth` hands out for them.

use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, ExplicitAuthFlowsType, MessageActionType,
};
use aws_sdk_cognitoidentityprovider::Client;
use onboard::auth::oidc::{OidcSettings, DEFAULT_SCOPES};

pub const REGION: &str = "us-east-1";
const PASSWORD: &str = "Corr3ct-Horse-Battery!";

/// One user pool with two app clients (`web`, the one the app trusts, and `other`).
pub struct Pool {
    pub client: Client,
    pub endpoint: String,
    pub id: String,
    pub web_client: String,
    pub other_client: String,
}

/// The tokens of one sign-in.
pub struct Tokens {
    pub id: String,
    pub access: String,
}

impl Pool {
    /// A new pool in the emulator at `endpoint` (`AWS_ENDPOINT_URL`).
    pub async fn create(endpoint: &str) -> Pool {
        let config = onboard::adapters::aws_sdk::sdk_config(Some(REGION)).await;
        let client = Client::new(&config);
        let name = onboard::testing::aws::unique_name("oidc");
        let pool = client
            .create_user_pool()
            .pool_name(&name)
            .send()
            .await
            .expect("a user pool");
        let id = pool.user_pool().and_then(|p| p.id()).unwrap().to_owned();
        let mut clients = Vec::new();
        for name in ["web", "other"] {
            let created = client
                .create_user_pool_client()
                .user_pool_id(&id)
                .client_name(name)
                .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
                .send()
                .await
                .expect("an app client");
            clients.push(
                created
                    .user_pool_client()
                    .and_then(|c| c.client_id())
                    .unwrap()
                    .to_owned(),
            );
        }
        Pool {
            client,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            id,
            other_client: clients.pop().unwrap(),
            web_client: clients.pop().unwrap(),
        }
    }

    /// The `iss` of this pool's tokens (Cognito's; moto issues the same form).
    pub fn issuer(&self) -> String {
        format!("https://cognito-idp.{REGION}.amazonaws.com/{}", self.id)
    }

    /// What the app is configured with to trust this pool's `web` client. moto serves the
    /// pool's JWKS at `{endpoint}/{pool}/.well-known/jwks.json`, not at the issuer's host.
    pub fn oidc_settings(&self) -> OidcSettings {
        OidcSettings {
            issuer: self.issuer(),
            audience: self.web_client.clone(),
            jwks_url: Some(
                format!("{}/{}/.well-known/jwks.json", self.endpoint, self.id)
                    .parse()
                    .unwrap(),
            ),
            customer_claim: "sub".into(),
            client_id: self.web_client.clone(),
            scopes: DEFAULT_SCOPES.into(),
        }
    }

    /// Creates `username` with a permanent password; returns its `sub` (the customer id).
    pub async fn user(&self, username: &str) -> String {
        self.client
            .admin_create_user()
            .user_pool_id(&self.id)
            .username(username)
            .temporary_password(PASSWORD)
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .expect("a user");
        self.client
            .admin_set_user_password()
            .user_pool_id(&self.id)
            .username(username)
            .password(PASSWORD)
            .permanent(true)
            .send()
            .await
            .expect("a permanent password");
        let user = self
            .client
            .admin_get_user()
            .user_pool_id(&self.id)
            .username(username)
            .send()
            .await
            .expect("the user");
        user.user_attributes()
            .iter()
            .find(|a| a.name() == "sub")
            .and_then(|a| a.value())
            .expect("a sub attribute")
            .to_owned()
    }

    /// Signs `username` in through `app_client` with its password.
    pub async fn sign_in(&self, app_client: &str, username: &str) -> Tokens {
        let answer = self
            .client
            .admin_initiate_auth()
            .user_pool_id(&self.id)
            .client_id(app_client)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", PASSWORD)
            .send()
            .await
            .expect("a sign-in");
        let result = answer.authentication_result().expect("tokens");
        Tokens {
            id: result.id_token().unwrap().to_owned(),
            access: result.access_token().unwrap().to_owned(),
        }
    }
}
