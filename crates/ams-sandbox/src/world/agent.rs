//! ISV agent tokens (digest §9.9): a merchant authorises an ISV, Alipay issues a token and sends it
//! to the ISV in the ISV authorization notification; the ISV then calls with it as `agent-token`.
//! Under [`MerchantSettings::require_agent_token`](crate::model::MerchantSettings) every call of the
//! ISV must carry a token issued for it and not superseded by a newer authorisation by the same
//! merchant (`authClientId`).

use ams_protocol::IsvAuthorizationNotification;

use super::World;
use crate::model::NotificationKind;
use crate::util::{random_bytes, random_digits};

/// The Dashboard's agent tokens are 48 characters.
const TOKEN_LEN: usize = 48;

/// A token issued to an ISV by an authorising merchant.
pub(crate) struct AgentGrant {
    isv: String,
    auth_client_id: String,
    token: String,
}

/// 48 random letters and digits (visible ASCII, like the Dashboard's).
fn new_token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(TOKEN_LEN);
    while out.len() < TOKEN_LEN {
        for b in random_bytes::<32>() {
            // 248 = 4 × 62: no bias.
            if b < 248 && out.len() < TOKEN_LEN {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    out
}

impl World {
    /// Merchant `auth_client_id` authorises ISV `isv` (a sandbox merchant): a new token, which
    /// supersedes the ones this merchant gave `isv` before, sent to `notify_url` in the ISV
    /// authorization notification. Returns the token.
    pub(crate) fn authorize_isv(
        &mut self,
        isv: &str,
        auth_client_id: &str,
        notify_url: &str,
        now: i64,
    ) -> Result<String, String> {
        if !self.merchants.contains_key(isv) {
            return Err(format!(
                "no merchant {isv:?}: register the ISV's public key when starting the sandbox"
            ));
        }
        if auth_client_id.is_empty() || !auth_client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "auth_client_id must be visible ASCII characters, found {auth_client_id:?}"
            ));
        }
        if !(notify_url.starts_with("http://") || notify_url.starts_with("https://")) {
            return Err(format!(
                "notify_url must be an http(s) URL, found {notify_url:?}"
            ));
        }
        let token = new_token();
        self.agent_grants.push(AgentGrant {
            isv: isv.to_owned(),
            auth_client_id: auth_client_id.to_owned(),
            token: token.clone(),
        });
        let notification = IsvAuthorizationNotification::new(token.as_str())
            .with_client_id(isv.to_owned())
            .with_auth_client_id(auth_client_id.to_owned())
            .with_auth_time(now.to_string())
            .with_access_token_expiry_time(String::new())
            .with_customer_id(format!("2188{}", random_digits(12)));
        let body = serde_json::to_string(&notification).unwrap_or_default();
        self.enqueue(
            NotificationKind::IsvAuthorization,
            isv,
            Some(notify_url.to_owned()),
            auth_client_id,
            body,
            now,
        );
        Ok(token)
    }

    /// Whether a call of `client_id` carrying `agent_token` may proceed: always, unless the
    /// merchant requires an agent token; then it must be the latest token some merchant issued to
    /// `client_id`.
    pub(crate) fn agent_token_accepted(&self, client_id: &str, agent_token: Option<&str>) -> bool {
        let required = self
            .merchants
            .get(client_id)
            .is_some_and(|m| m.settings.require_agent_token);
        if !required {
            return true;
        }
        let Some(presented) = agent_token else {
            return false;
        };
        let Some(grant) = self
            .agent_grants
            .iter()
            .find(|g| g.isv == client_id && g.token == presented)
        else {
            return false;
        };
        // Superseded when the same merchant authorised this ISV again later.
        self.agent_grants
            .iter()
            .rev()
            .find(|g| g.isv == client_id && g.auth_client_id == grant.auth_client_id)
            .is_some_and(|latest| latest.token == presented)
    }
}
