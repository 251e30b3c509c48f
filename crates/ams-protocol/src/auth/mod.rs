//! Authorization APIs of Auto Debit: consult, applyToken, revoke, and the notifyAuthorization SPI.

pub mod apply_token;
pub mod consult;
pub mod notify_authorization;
pub mod revoke;
