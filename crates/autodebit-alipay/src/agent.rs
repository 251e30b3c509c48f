//! The ISV's agent token, read on every call: a merchant that authorised an ISV again gets a new
//! token (Alipay's ISV authorization notification, digest §9.9), and the next call must send it
//! without a restart. Where the current token lives (a store shared by replicas, a cache) is the
//! source's business.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use ams_client::AmsClient;
use ams_protocol::AgentToken;
use async_trait::async_trait;

use crate::AlipayGateway;

/// Where the gateway reads the agent token to send as `agent-token`.
#[async_trait]
pub trait AgentTokenSource: Send + Sync + fmt::Debug {
    /// The token to send now; `None`: the client's own (as configured, possibly none).
    async fn current(&self) -> Option<AgentToken>;
}

impl AlipayGateway {
    /// This gateway consulting `source` on every call: a token it yields is sent instead of the
    /// client's own.
    #[must_use]
    pub fn with_agent_tokens(mut self, source: Arc<dyn AgentTokenSource>) -> Self {
        self.agent = Some(source);
        self
    }

    /// The client to make a call with: the client's own, or a handle over the same pool sending
    /// the source's current token. A token the client refuses (not 1–128 visible ASCII characters)
    /// is not sent; the configured one is.
    pub(crate) async fn calling(&self) -> Cow<'_, AmsClient> {
        let Some(source) = &self.agent else {
            return Cow::Borrowed(&self.client);
        };
        match source.current().await {
            Some(token)
                if self
                    .client
                    .agent_token()
                    .map(ams_client::AgentToken::expose_secret)
                    != Some(token.expose_secret()) =>
            {
                match self.client.with_agent_token(token.expose_secret()) {
                    Ok(client) => Cow::Owned(client),
                    Err(_) => Cow::Borrowed(&self.client),
                }
            }
            _ => Cow::Borrowed(&self.client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use ams_client::{Gateway as Endpoint, KeyVersion};
    use ams_signing::{Backend, GeneratedKeyPair};

    #[derive(Debug)]
    struct Fixed(Mutex<Option<AgentToken>>);

    #[async_trait]
    impl AgentTokenSource for Fixed {
        async fn current(&self) -> Option<AgentToken> {
            self.0.lock().unwrap().clone()
        }
    }

    fn client() -> AmsClient {
        let key = GeneratedKeyPair::generate(Backend::default(), 2048).unwrap();
        let public = key.public_key().clone();
        AmsClient::builder()
            .gateway(Endpoint::url("http://127.0.0.1:9").unwrap())
            .client_id("SANDBOX_ISV")
            .merchant_key(key.into_private_key(), KeyVersion::new(1))
            .alipay_public_key(public)
            .agent_token("CONFIGURED")
            .build()
            .unwrap()
    }

    fn sent(client: &AmsClient) -> Option<&str> {
        client
            .agent_token()
            .map(ams_client::AgentToken::expose_secret)
    }

    #[tokio::test]
    async fn every_call_sends_the_current_token_else_the_configured_one() {
        let source = Arc::new(Fixed(Mutex::new(None)));
        let plain = AlipayGateway::new(client());
        assert_eq!(sent(&*plain.calling().await), Some("CONFIGURED"));
        let gateway = plain.with_agent_tokens(source.clone());
        assert_eq!(sent(&*gateway.calling().await), Some("CONFIGURED"));
        *source.0.lock().unwrap() = Some(AgentToken::new("INGESTED"));
        assert_eq!(sent(&*gateway.calling().await), Some("INGESTED"));
        *source.0.lock().unwrap() = Some(AgentToken::new("NEWER"));
        assert_eq!(sent(&*gateway.calling().await), Some("NEWER"));
        // A token the client cannot send (a space) is not sent: the configured one is.
        *source.0.lock().unwrap() = Some(AgentToken::new("not a token"));
        assert_eq!(sent(&*gateway.calling().await), Some("CONFIGURED"));
        assert_eq!(
            sent(gateway.client()),
            Some("CONFIGURED"),
            "the client is unchanged"
        );
    }
}
