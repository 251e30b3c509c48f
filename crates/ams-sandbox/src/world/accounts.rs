//! Merchants (keys, dashboard settings) and wallet users (balances, limits, status).

use std::collections::BTreeMap;
use std::sync::Arc;

use ams_protocol::{Amount, Currency};
use ams_signing::PublicKey;

use super::{Merchant, User, World};
use crate::model::{MerchantSettings, MerchantView, UserSpec, UserUpdate, UserView};

impl World {
    /// Registers a merchant (client id) or changes its settings.
    pub(crate) fn set_merchant(&mut self, client_id: &str, settings: MerchantSettings) {
        self.merchants
            .entry(client_id.to_owned())
            .or_insert_with(|| Merchant {
                settings: MerchantSettings::default(),
                keys: BTreeMap::new(),
                notify_token_created: false,
            })
            .settings = settings;
    }

    /// Registers a merchant public key under a key version.
    pub(crate) fn add_merchant_key(&mut self, client_id: &str, version: u32, key: Arc<PublicKey>) {
        self.merchants
            .entry(client_id.to_owned())
            .or_insert_with(|| Merchant {
                settings: MerchantSettings::default(),
                keys: BTreeMap::new(),
                notify_token_created: false,
            })
            .keys
            .insert(version, key);
    }

    /// The merchant's public keys by version, if the client id is known.
    pub(crate) fn merchant_keys(&self, client_id: &str) -> Option<BTreeMap<u32, Arc<PublicKey>>> {
        self.merchants.get(client_id).map(|m| m.keys.clone())
    }

    pub(crate) fn merchant_settings(&self, client_id: &str) -> Option<MerchantSettings> {
        self.merchants.get(client_id).map(|m| m.settings.clone())
    }

    /// The merchant's name as the wallet's pages show it: its settings' `name`, else the client id.
    pub(crate) fn merchant_name(&self, client_id: &str) -> String {
        self.merchants
            .get(client_id)
            .and_then(|m| m.settings.name.clone())
            .unwrap_or_else(|| client_id.to_owned())
    }

    /// The merchant's settings and the sandbox's switches for it, if the client id is known.
    pub(crate) fn merchant_view(&self, client_id: &str) -> Option<MerchantView> {
        self.merchants.get(client_id).map(|m| MerchantView {
            settings: m.settings.clone(),
            notify_token_created: m.notify_token_created,
        })
    }

    /// Turns `TOKEN_CREATED` notifications on or off for a known merchant; false if unknown.
    pub(crate) fn set_notify_token_created(&mut self, client_id: &str, on: bool) -> bool {
        match self.merchants.get_mut(client_id) {
            Some(merchant) => {
                merchant.notify_token_created = on;
                true
            }
            None => false,
        }
    }

    pub(crate) fn create_user(&mut self, spec: UserSpec) -> Result<UserView, String> {
        if spec.login_id.trim().is_empty() || spec.login_id.len() > 64 {
            return Err("login_id must be 1 to 64 characters".into());
        }
        if !spec.wallet.is_known() {
            return Err(format!(
                "wallet {:?} is not a known customerBelongsTo value",
                spec.wallet.as_str()
            ));
        }
        if self.users.contains_key(&spec.login_id) {
            return Err(format!("user {:?} already exists", spec.login_id));
        }
        let mut balances = BTreeMap::new();
        for amount in &spec.balances {
            if balances.insert(amount.currency, *amount).is_some() {
                return Err(format!("two balances in {}", amount.currency));
            }
        }
        let spec = UserSpec {
            balances: balances.into_values().collect(),
            ..spec
        };
        let login = spec.login_id.clone();
        self.users.insert(
            login.clone(),
            User {
                spec,
                payments_made: 0,
            },
        );
        self.user_view(&login)
            .ok_or_else(|| "user vanished".to_owned())
    }

    pub(crate) fn update_user(
        &mut self,
        login: &str,
        update: UserUpdate,
    ) -> Result<UserView, String> {
        let user = self
            .users
            .get_mut(login)
            .ok_or_else(|| format!("no user {login:?}"))?;
        for amount in update.balances {
            match user
                .spec
                .balances
                .iter_mut()
                .find(|b| b.currency == amount.currency)
            {
                Some(balance) => *balance = amount,
                None => user.spec.balances.push(amount),
            }
        }
        if let Some(status) = update.status {
            user.spec.status = status;
        }
        if let Some(risk) = update.risk_reject {
            user.spec.risk_reject = risk;
        }
        if let Some(limit) = update.per_payment_limit {
            user.spec.per_payment_limit = Some(limit);
        }
        if let Some(max) = update.max_payments {
            user.spec.max_payments = Some(max);
        }
        if let Some(mode) = update.payment_mode {
            user.spec.payment_mode = mode;
        }
        if let Some(issues) = update.issues_refresh_tokens {
            user.spec.issues_refresh_tokens = issues;
        }
        self.user_view(login)
            .ok_or_else(|| "user vanished".to_owned())
    }

    pub(crate) fn user_view(&self, login: &str) -> Option<UserView> {
        self.users.get(login).map(|u| UserView {
            spec: u.spec.clone(),
            payments_made: u.payments_made,
        })
    }

    pub(crate) fn users(&self) -> Vec<UserView> {
        self.users
            .keys()
            .filter_map(|login| self.user_view(login))
            .collect()
    }

    pub(super) fn balance_mut(&mut self, login: &str, currency: Currency) -> Option<&mut Amount> {
        self.users
            .get_mut(login)
            .and_then(|u| u.spec.balances.iter_mut().find(|b| b.currency == currency))
    }
}
